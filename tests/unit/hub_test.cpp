// The hub's hand-on rules, driven with a real pty and real pipes on an io_context of the test's
// own: a terminal's batch goes out after a burst that ends in silence, and before the run's exit
// marker when end() cannot wait; pipes keep stdout and stderr in the order they were read.
#include "common/temp_dir.hpp"
#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <pty.h>
#include <sstream>
#include <string>
#include <termios.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <doctest/doctest.h>

#include "ctr/core/unique_fd.hpp"
#include "ctr/tty/hub.hpp"

using namespace ctr;
using namespace std::chrono_literals;

namespace {

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_all(int fd, const std::string& s) {
    for (std::size_t off = 0; off < s.size();) {
        ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        REQUIRE(n > 0);
        off += static_cast<std::size_t>(n);
    }
}

// Runs the loop until `done` says yes or `limit` passes.
template <class F> bool run_until(asio::io_context& io, F done, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_for(1ms);
    }
    return done();
}

// A hub logging to a file of the test's own, its run's terminal a fresh raw pty: the test writes
// to the slave as the container would.
struct terminal_hub {
    test::temp_dir dir{"ctr-hub"};
    asio::io_context io;
    std::filesystem::path log = dir.path / "t.log";
    tty::hub hub{io.get_executor(), "t", tty::log_file(log, {}), 0};
    unique_fd slave;

    terminal_hub() {
        int m = -1, s = -1;
        termios raw{};
        ::cfmakeraw(&raw); // bytes pass unchanged: no "\n" -> "\r\n"
        REQUIRE(::openpty(&m, &s, nullptr, &raw, nullptr) == 0);
        ::fcntl(m, F_SETFD, FD_CLOEXEC);
        ::fcntl(s, F_SETFD, FD_CLOEXEC);
        slave.reset(s);
        tty::run_io rio;
        rio.terminal.reset(m);
        hub.begin(std::move(rio), "start");
    }
};

} // namespace

TEST_CASE("hub: a terminal burst that ends in silence reaches the log whole") {
    terminal_hub t;
    // More than a small output: held in a batch, which only the timer can hand on here.
    std::string burst(3000, 'z');
    burst += "END";
    write_all(t.slave.get(), burst);
    CHECK(run_until(
        t.io, [&] { return slurp(t.log).find(burst) != std::string::npos; }, 2s));
}

TEST_CASE("hub: a terminal's held bytes precede the exit marker when end() cannot wait") {
    terminal_hub t;
    auto& io = t.io;
    write_all(t.slave.get(), std::string(3000, 'z') + "LAST");
    // Read, but not yet handed on: the batch timer is 2 ms, the loop runs a few µs at a time.
    for (int i = 0; i < 200; ++i) {
        io.restart();
        io.poll();
    }
    bool ended = false;
    // The slave stays open (a daemon holding the terminal): end() gives up at once.
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            tty::run_end how; // named: with a temporary here, GCC 12 freed its string twice
            co_await t.hub.end(std::move(how), "EXIT-MARKER", 0ms);
            ended = true;
        },
        asio::detached);
    REQUIRE(run_until(
        io, [&] { return ended; }, 2s));
    io.restart();
    io.run_for(10ms); // a batch timer that was already due must not add anything after the marker
    auto text = slurp(t.log);
    auto last = text.find("LAST"), marker = text.find("EXIT-MARKER");
    CAPTURE(text.size());
    REQUIRE(marker != std::string::npos);
    CHECK(last < marker);
    CHECK(text.find('z', marker) == std::string::npos);
}

TEST_CASE("hub: pipes keep stdout and stderr in the order they were read") {
    test::temp_dir dir("ctr-hub");
    asio::io_context io;
    auto log = dir.path / "p.log";
    tty::hub h(io.get_executor(), "p", tty::log_file(log, {}), 0);
    int o[2], e[2];
    REQUIRE(::pipe2(o, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(e, O_CLOEXEC) == 0);
    unique_fd out_w(o[1]), err_w(e[1]);
    tty::run_io rio;
    rio.out = unique_fd(o[0]);
    rio.err = unique_fd(e[0]);
    h.begin(std::move(rio), "start");
    std::string burst;
    for (int i = 0; i < 200; ++i)
        burst += "out-line-" + std::to_string(i) + "\n";
    write_all(out_w.get(), burst);
    for (int i = 0; i < 200; ++i) { // read; a batch (were there one) would still hold it
        io.restart();
        io.poll();
    }
    write_all(err_w.get(), "ERROR after the burst\n");
    REQUIRE(run_until(
        io,
        [&] {
            auto t = slurp(log);
            return t.find("ERROR") != std::string::npos &&
                   t.find("out-line-199") != std::string::npos;
        },
        2s));
    auto text = slurp(log);
    CHECK(text.find("out-line-0\n") < text.find("ERROR"));
}
