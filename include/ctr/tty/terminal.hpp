// The client's side of a terminal: its size, and raw mode for as long as an attach lasts.
#pragma once

#include <cstdint>
#include <optional>
#include <termios.h>

namespace ctr::tty {

struct window_size {
    std::uint16_t rows = 0, cols = 0;
    bool operator==(const window_size&) const = default;
};

bool is_terminal(int fd);
// TIOCGWINSZ; nothing when fd is not a terminal.
std::optional<window_size> get_size(int fd);
// TIOCSWINSZ; throws ctr::error naming the call.
void set_size(int fd, window_size ws);

// Puts a terminal in raw mode (cfmakeraw: no echo, no line editing, no signals from keys, no
// output processing) and restores the saved settings when destroyed, whatever ends the scope.
// Callers must also restore on signals they catch: a destructor does not run on SIGKILL.
class raw_mode {
  public:
    // Throws ctr::error when fd is not a terminal or tcsetattr fails.
    explicit raw_mode(int fd);
    ~raw_mode();
    raw_mode(const raw_mode&) = delete;
    raw_mode& operator=(const raw_mode&) = delete;
    // Restores now (idempotent); the destructor then does nothing.
    void restore() noexcept;

  private:
    int fd_;
    termios saved_{};
    bool active_ = false;
};

} // namespace ctr::tty
