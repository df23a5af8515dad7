#include "ctr/tty/terminal.hpp"

#include "fail.hpp"
#include <cerrno>
#include <sys/ioctl.h>
#include <unistd.h>

namespace ctr::tty {
using detail::fail_errno;

bool is_terminal(int fd) {
    return ::isatty(fd) == 1;
}

std::optional<window_size> get_size(int fd) {
    winsize ws{};
    if (::ioctl(fd, TIOCGWINSZ, &ws) != 0) return std::nullopt;
    return window_size{ws.ws_row, ws.ws_col};
}

void set_size(int fd, window_size size) {
    winsize ws{};
    ws.ws_row = size.rows;
    ws.ws_col = size.cols;
    if (::ioctl(fd, TIOCSWINSZ, &ws) != 0) fail_errno("ioctl(TIOCSWINSZ on fd {})", fd);
}

raw_mode::raw_mode(int fd) : fd_(fd) {
    if (::tcgetattr(fd_, &saved_) != 0) fail_errno("tcgetattr(fd {})", fd_);
    termios raw = saved_;
    ::cfmakeraw(&raw);
    // TCSANOW, not TCSAFLUSH: keys typed before the attach are the user's input, not noise.
    if (::tcsetattr(fd_, TCSANOW, &raw) != 0) fail_errno("tcsetattr(fd {}, raw)", fd_);
    active_ = true;
}

raw_mode::~raw_mode() {
    restore();
}

void raw_mode::restore() noexcept {
    if (!active_) return;
    active_ = false;
    // TCSANOW: waiting for output to drain (TCSADRAIN) could hang the way out forever on a
    // terminal that stopped reading (^S), and the user would be left in raw mode.
    while (::tcsetattr(fd_, TCSANOW, &saved_) != 0 && errno == EINTR) {
    }
}

} // namespace ctr::tty
