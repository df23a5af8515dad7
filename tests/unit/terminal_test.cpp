// The client's terminal: size and raw mode, on a real pty pair (no root needed).
#include <fcntl.h>
#include <stdlib.h>
#include <string>
#include <termios.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "ctr/core/error.hpp"
#include "ctr/core/unique_fd.hpp"
#include "ctr/tty/terminal.hpp"

using namespace ctr::tty;

namespace {

struct pty_pair {
    ctr::unique_fd master, slave;
    pty_pair() {
        master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
        REQUIRE(master);
        REQUIRE(::grantpt(master.get()) == 0);
        REQUIRE(::unlockpt(master.get()) == 0);
        char name[64];
        REQUIRE(::ptsname_r(master.get(), name, sizeof name) == 0);
        slave.reset(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
        REQUIRE(slave);
    }
};

struct pipe_pair {
    ctr::unique_fd r, w;
    pipe_pair() {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        r.reset(fds[0]);
        w.reset(fds[1]);
    }
};

termios attrs(int fd) {
    termios t{};
    REQUIRE(::tcgetattr(fd, &t) == 0);
    return t;
}

bool same(const termios& a, const termios& b) {
    return a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_cflag == b.c_cflag &&
           a.c_lflag == b.c_lflag && cfgetispeed(&a) == cfgetispeed(&b) &&
           cfgetospeed(&a) == cfgetospeed(&b) &&
           std::string(reinterpret_cast<const char*>(a.c_cc), NCCS) ==
               std::string(reinterpret_cast<const char*>(b.c_cc), NCCS);
}

bool is_raw(const termios& t) {
    return !(t.c_lflag & (ECHO | ICANON | ISIG | IEXTEN)) && !(t.c_iflag & (ICRNL | IXON)) &&
           !(t.c_oflag & OPOST) && (t.c_cflag & CSIZE) == CS8 && t.c_cc[VMIN] == 1 &&
           t.c_cc[VTIME] == 0;
}

std::string error_of(auto&& f) {
    try {
        f();
    } catch (const ctr::error& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

TEST_CASE("terminal: a pty is a terminal, a pipe is not") {
    pty_pair pty;
    pipe_pair p;
    CHECK(is_terminal(pty.master.get()));
    CHECK(is_terminal(pty.slave.get()));
    CHECK_FALSE(is_terminal(p.r.get()));
    CHECK_FALSE(is_terminal(-1));
}

TEST_CASE("terminal: set_size and get_size round trip, seen from both ends") {
    pty_pair pty;
    set_size(pty.master.get(), {.rows = 42, .cols = 132});
    CHECK(get_size(pty.master.get()) == window_size{42, 132});
    CHECK(get_size(pty.slave.get()) == window_size{42, 132});
    set_size(pty.slave.get(), {.rows = 24, .cols = 80});
    CHECK(get_size(pty.master.get()) == window_size{24, 80});
    set_size(pty.master.get(), {.rows = 65535, .cols = 1});
    CHECK(get_size(pty.slave.get()) == window_size{65535, 1});
}

TEST_CASE("terminal: sizes of what is not a terminal") {
    pipe_pair p;
    CHECK_FALSE(get_size(p.r.get()));
    CHECK_FALSE(get_size(-1));
    std::string fd = std::to_string(p.w.get());
    CHECK(error_of([&] {
              set_size(p.w.get(), {24, 80});
          }) == "ioctl(TIOCSWINSZ on fd " + fd + "): Inappropriate ioctl for device");
}

TEST_CASE("terminal: raw_mode makes the terminal raw and restores it at scope exit") {
    pty_pair pty;
    int fd = pty.slave.get();
    termios before = attrs(fd);
    REQUIRE_FALSE(is_raw(before)); // a fresh pty is cooked: echo, canonical, signals
    {
        raw_mode raw(fd);
        termios during = attrs(fd);
        CHECK(is_raw(during));
        CHECK_FALSE(same(during, before));
    }
    CHECK(same(attrs(fd), before));
}

TEST_CASE("terminal: raw_mode restores on an exception leaving the scope") {
    pty_pair pty;
    int fd = pty.slave.get();
    termios before = attrs(fd);
    try {
        raw_mode raw(fd);
        REQUIRE(is_raw(attrs(fd)));
        throw std::runtime_error("detach");
    } catch (const std::runtime_error&) {
    }
    CHECK(same(attrs(fd), before));
}

TEST_CASE("terminal: restore() is immediate, idempotent, and the destructor then leaves it be") {
    pty_pair pty;
    int fd = pty.slave.get();
    termios before = attrs(fd);
    termios later{};
    {
        raw_mode raw(fd);
        raw.restore();
        CHECK(same(attrs(fd), before));
        raw.restore();
        CHECK(same(attrs(fd), before));
        // Whatever the terminal becomes after restore() is not undone by the destructor.
        later = before;
        later.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        REQUIRE(::tcsetattr(fd, TCSANOW, &later) == 0);
    }
    CHECK(same(attrs(fd), later));
}

TEST_CASE("terminal: raw_mode refuses what is not a terminal, naming the call") {
    pipe_pair p;
    std::string fd = std::to_string(p.r.get());
    CHECK(error_of([&] { raw_mode raw(p.r.get()); }) ==
          "tcgetattr(fd " + fd + "): Inappropriate ioctl for device");
}
