// Terminals as a user meets them through ctrctl: attach (piped and interactive under tmux),
// logs with restarts and rotation, exec, and a flood with a client that never reads.
#include "harness.hpp"
#include <arpa/inet.h>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace ctr::test;

namespace {

bool contains(const std::string& s, const std::string& what) {
    return s.find(what) != std::string::npos;
}

std::string shell(const std::string& name, const std::string& extra = "") {
    return fmt::format("[container {}]\nrootfs = @ROOTFS@\ncommand = /bin/sh\ntty = true\n"
                       "hostname = {}-host\n{}\n",
                       name, name, extra);
}

// Polls `probe` until it says yes (tests may sleep; the supervisor may not).
template <class F> bool eventually(F probe, std::chrono::milliseconds limit = 10s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (probe()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return probe();
}

// A tmux server of the test's own (its own socket), killed with everything in it at the end.
struct tmux {
    std::string sock = fmt::format("ctr-it-{}-{}", ::getpid(), counter()++);
    static int& counter() {
        static int n = 0;
        return n;
    }
    run_result cmd(std::vector<std::string> args) {
        args.insert(args.begin(), {"/usr/bin/tmux", "-L", sock});
        return run(args, 10s);
    }
    std::string pane() { return cmd({"capture-pane", "-p", "-t", "t"}).out; }
    ~tmux() { cmd({"kill-server"}); }
};

// A raw control connection, for what ctrctl never does (stop reading, send garbage).
int connect_to(const fs::path& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return fd;
}

void send_frame(int fd, std::uint8_t type, const std::string& payload) {
    std::uint32_t len = htonl(static_cast<std::uint32_t>(payload.size()));
    std::string bytes(reinterpret_cast<const char*>(&len), 4);
    bytes.push_back(static_cast<char>(type));
    bytes += payload;
    REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
}

// Everything the peer sends until it closes (or `limit`).
std::string read_all(int fd, std::chrono::milliseconds limit = 10s) {
    std::string out;
    timeval tv{static_cast<time_t>(limit.count() / 1000),
               static_cast<suseconds_t>(limit.count() % 1000 * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[65536];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

} // namespace

TEST_CASE("piped attach runs a command in a terminal and in a stdin pipe, and detaches at EOF") {
    CTR_REQUIRE_ROOT();
    lab l(shell("web") + "[container piped]\nrootfs = @ROOTFS@\ncommand = /bin/sh\n"
                         "stdin = true\n\n");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"web", "piped"}));

    auto r = l.ctl_input({"attach", "web"}, "hostname\n");
    CAPTURE(r.err);
    CHECK(r.code == 0);
    CHECK(contains(r.out, "web-host"));

    r = l.ctl_input({"attach", "--no-replay", "piped"}, "echo out-$((6*7)); echo err >&2\n");
    CAPTURE(r.err);
    CHECK(r.code == 0);
    CHECK(contains(r.out, "out-42"));
    CHECK(contains(r.err, "err"));
    // Detaching left both running.
    CHECK(l.status("web")["state"] == "running");
    CHECK(l.status("piped")["state"] == "running");

    // The container's own terminal exists inside it.
    r = l.ctl_input({"attach", "--no-replay", "web"}, "tty; ls /dev/pts\n");
    CHECK(contains(r.out, "/dev/pts/0"));
    CHECK(l.stop() == 0);
}

TEST_CASE("the scrollback replays a pipe container's stderr as stderr") {
    CTR_REQUIRE_ROOT();
    lab l("[container p]\nrootfs = @ROOTFS@\n"
          "command = sh -c 'echo out-$((6*7)); echo err-$((6*7)) >&2; exec sleep 1000'\n");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"p"}));
    REQUIRE(eventually([&] { return contains(l.ctl({"logs", "p"}).out, "err-42"); }));
    auto r = l.ctl_input({"attach", "p"}, "");
    CAPTURE(r.err);
    CHECK(r.code == 0);
    CHECK(contains(r.out, "out-42"));
    CHECK_FALSE(contains(r.out, "err-42"));
    CHECK(contains(r.err, "err-42"));
    CHECK(l.stop() == 0);
}

TEST_CASE("attach ends with the container's exit and returns its code") {
    CTR_REQUIRE_ROOT();
    lab l(shell("sh1"));
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"sh1"}));
    auto r = l.ctl_input({"attach", "sh1"}, "exit 7\n");
    CAPTURE(r.out);
    CHECK(r.code == 7);
    CHECK(contains(r.err, "sh1 exited with code 7"));
    CHECK(l.wait_state("exited", {"sh1"}));

    r = l.ctl({"attach", "sh1"});
    CHECK(r.code == 1);
    CHECK(contains(r.err, "not running"));
    CHECK(l.stop() == 0);
}

TEST_CASE("interactive attach under tmux: typing, resizing, detach keys, two clients") {
    CTR_REQUIRE_ROOT();
    if (!fs::exists("/usr/bin/tmux")) {
        MESSAGE("skipped: tmux is not installed (tools/install-deps installs it)");
        return;
    }
    lab l(shell("box"));
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"box"}));
    tmux t;
    auto ctl = fmt::format("{} --socket {} attach box", (build_dir() / "ctrctl").string(),
                           l.socket.string());
    REQUIRE(t.cmd({"new-session", "-d", "-s", "t", "-x", "100", "-y", "30", ctl}).code == 0);
    t.cmd({"send-keys", "-t", "t", "echo typed-$((40+2))", "Enter"});
    CHECK(eventually([&] { return contains(t.pane(), "typed-42"); }));

    t.cmd({"send-keys", "-t", "t", "stty size", "Enter"});
    CHECK(eventually([&] { return contains(t.pane(), "30 100"); }));
    t.cmd({"resize-window", "-t", "t", "-x", "120", "-y", "40"});
    std::this_thread::sleep_for(200ms);
    t.cmd({"send-keys", "-t", "t", "clear; stty size", "Enter"});
    CHECK(eventually([&] { return contains(t.pane(), "40 120"); }));

    // A second client's typing shows on the first one's screen.
    auto r = l.ctl_input({"attach", "--no-replay", "box"}, "echo from-second-$((1+1))\n");
    CHECK(r.code == 0);
    CHECK(eventually([&] { return contains(t.pane(), "from-second-2"); }));

    // ctrl-p ctrl-q: the client leaves, the container stays.
    t.cmd({"send-keys", "-t", "t", "C-p", "C-q"});
    CHECK(eventually([&] { return t.cmd({"has-session", "-t", "t"}).code != 0; }));
    CHECK(l.status("box")["state"] == "running");
    CHECK(l.stop() == 0);
}

TEST_CASE("logs keep every run with its markers, follow across restarts, and rotate") {
    CTR_REQUIRE_ROOT();
    lab l("[container tick]\nrootfs = @ROOTFS@\n"
          "command = sh -c 'i=0; while [ $i -lt 40 ]; do echo tick-$i-xxxxxxxxxxxxxxxxxxxxxxxx; "
          "i=$((i+1)); done; sleep 0.3; exit 1'\nrestart = always\n\n",
          "log_max_size = 2K\nlog_max_files = 3\n");
    REQUIRE(l.start());
    CHECK(eventually([&] { return l.status("tick")["restarts"].get<int>() >= 3; }, 20s));
    auto r = l.ctl({"logs", "tick"});
    CHECK(r.code == 0);
    CHECK(contains(r.out, "tick-39"));
    CHECK(contains(r.out, "started, pid"));
    CHECK(contains(r.out, "exit code 1"));
    auto logs = l.state_dir / "logs";
    CHECK(fs::exists(logs / "tick.log.1"));
    CHECK(fs::exists(logs / "tick.log.2"));
    CHECK_FALSE(fs::exists(logs / "tick.log.3"));
    for (auto name : {"tick.log", "tick.log.1", "tick.log.2"})
        CHECK(fs::file_size(logs / name) <= 4096);

    r = l.ctl({"logs", "--tail", "2", "tick"});
    CHECK(r.code == 0);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 2);

    // -f sees the next run start; ctrctl is killed by run()'s limit, which is how it ends here.
    r = l.ctl({"logs", "-f", "--tail", "0", "tick"}, 2s);
    CHECK(contains(r.out, "started, pid"));
    CHECK(contains(r.out, "tick-0-"));
    CHECK(l.stop() == 0);
}

// A drain holds a burst back to hand it on in one batch (src/tty/hub.cpp): a burst followed by
// silence must still go out, and a run's last bytes must come before its exit marker.
TEST_CASE("a burst then silence reaches the log whole; a run's last bytes precede its exit") {
    CTR_REQUIRE_ROOT();
    lab l("[container quiet]\nrootfs = @ROOTFS@\ntty = true\n"
          "command = sh -c 'yes 0123456789 | head -c 3300; echo burst-end; exec sleep 1000'\n\n"
          "[container last]\nrootfs = @ROOTFS@\nrestart = no\n"
          "command = sh -c 'yes 0123456789 | head -c 3300; exit 3'\n");
    REQUIRE(l.start());
    auto lines = [](const std::string& s) {
        std::size_t n = 0;
        for (auto at = s.find("0123456789"); at != std::string::npos;
             at = s.find("0123456789", at + 1))
            ++n;
        return n;
    };
    std::string out;
    CHECK(eventually([&] {
        out = l.ctl({"logs", "quiet"}).out;
        return contains(out, "burst-end");
    }));
    CHECK(lines(out) == 300);

    REQUIRE(l.wait_state("exited", {"last"}));
    out = l.ctl({"logs", "last"}).out;
    CAPTURE(out);
    CHECK(lines(out) == 300);
    auto exit_at = out.find("exit code 3");
    REQUIRE(exit_at != std::string::npos);
    CHECK(out.rfind("0123456789") < exit_at);
    CHECK(l.stop() == 0);
}

TEST_CASE("exec runs in the container's namespaces and files and returns the inner code") {
    CTR_REQUIRE_ROOT();
    lab l("[container app]\nrootfs = @ROOTFS@\nhostname = app-host\n"
          "command = sh -c 'echo made-by-app > /tmp/marker; trap \"exit 0\" TERM; "
          "sleep 1000 & wait'\n\n");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"app"}));
    REQUIRE(!wait_for_file(l.upper("app") / "tmp/marker").empty());

    auto r = l.ctl({"exec", "app", "--", "sh", "-c",
                    "hostname; cat /tmp/marker; echo $FOO; "
                    "pwd; exit 3"});
    CAPTURE(r.err);
    CHECK(r.code == 3);
    CHECK(contains(r.out, "app-host"));
    CHECK(contains(r.out, "made-by-app"));

    r = l.ctl({"exec", "-e", "FOO=bar", "-w", "/tmp", "app", "--", "sh", "-c", "echo $FOO; pwd"});
    CHECK(r.code == 0);
    CHECK(contains(r.out, "bar\n/tmp"));

    // Its pid namespace: ps inside sees the container's sleep, and not the host's processes.
    r = l.ctl({"exec", "app", "--", "sh", "-c", "ls /proc | grep -c '^[0-9]'"});
    CHECK(r.code == 0);
    CHECK(std::stoi(r.out) < 10);

    r = l.ctl_input({"exec", "-i", "app", "--", "cat"}, "through-stdin\n");
    CHECK(r.code == 0);
    CHECK(r.out == "through-stdin\n");

    r = l.ctl({"exec", "-t", "app", "--", "tty"});
    CHECK(r.code == 0);
    CHECK(contains(r.out, "/dev/pts/"));

    r = l.ctl({"exec", "app", "--", "/bin/nosuch"});
    CHECK(r.code != 0);
    CHECK(contains(r.err, "exec \"/bin/nosuch\": No such file or directory"));

    REQUIRE(l.ctl({"stop", "app"}).code == 0);
    r = l.ctl({"exec", "app", "--", "true"});
    CHECK(r.code == 1);
    CHECK(contains(r.err, "container app is not running"));
    CHECK(l.stop() == 0);
}

TEST_CASE("a yes flood with a stuck client: ps stays prompt, others stay interactive, the "
          "stuck client is dropped") {
    CTR_REQUIRE_ROOT();
    lab l("[container flood]\nrootfs = @ROOTFS@\ncommand = yes\ntty = true\n\n" + shell("calm"));
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"flood", "calm"}));

    // Attaches and never reads.
    int stuck = connect_to(l.socket);
    send_frame(stuck, 1, R"({"op":"attach","name":"flood"})");

    std::this_thread::sleep_for(1s);
    auto t0 = std::chrono::steady_clock::now();
    auto r = l.ctl({"ps"});
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(r.code == 0);
    MESSAGE("ctrctl ps under a flood took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    CHECK(took < 2s); // generous: a benchmark measures the real figure

    r = l.ctl_input({"attach", "--no-replay", "calm"}, "hostname\n");
    CHECK(r.code == 0);
    CHECK(contains(r.out, "calm-host"));

    CHECK(eventually([&] { return contains(l.log(), "client dropped"); }));
    ::close(stuck);
    CHECK(l.status("flood")["state"] == "running");
    CHECK(l.stop() == 0);
}

TEST_CASE("bad frames end only their own connection") {
    CTR_REQUIRE_ROOT();
    lab l(shell("s"));
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"s"}));
    int fd = connect_to(l.socket);
    send_frame(fd, 1, R"({"op":"attach","name":"s","replay":false})");
    send_frame(fd, 42, "garbage");
    auto got = read_all(fd);
    ::close(fd);
    CHECK(contains(got, "unknown frame type 42"));

    fd = connect_to(l.socket);
    send_frame(fd, 1, R"({"op":"attach","name":"s","replay":false})");
    send_frame(fd, 4, "stdout from a client"); // a supervisor-to-client type
    got = read_all(fd);
    ::close(fd);
    CHECK(contains(got, "unexpected frame"));

    auto r = l.ctl_input({"attach", "--no-replay", "s"}, "echo still-$((2*2))\n");
    CHECK(contains(r.out, "still-4"));
    CHECK(l.stop() == 0);
}

// The drain pauses while an attach client lags; a wake-up of the terminal that came during the
// pause must not be lost, or the relay stalls with the writer blocked on a full terminal.
TEST_CASE("a paused drain resumes: a client that lags, then reads, gets every byte") {
    CTR_REQUIRE_ROOT();
    constexpr std::size_t bytes = 8u << 20;
    lab l(fmt::format("[container w]\nrootfs = @ROOTFS@\ntty = true\n"
                      "command = sh -c 'read go; head -c {} /dev/zero; sleep 1000'\n",
                      bytes));
    INFO(l.log());
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"w"}));
    int fd = connect_to(l.socket);
    send_frame(fd, 1, R"({"op":"attach","name":"w","replay":false})");
    send_frame(fd, 3, "\n"); // stdin_data: starts the writer
    std::size_t data = 0;
    std::string pending; // an incomplete frame
    auto deadline = std::chrono::steady_clock::now() + 30s;
    timeval tv{0, 200 * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[65536];
    bool first_frame = true;
    // Lags twice: long enough for the queue to pass high_water, short of the 1 s write stall.
    for (int lag = 0; data < bytes + 2 && std::chrono::steady_clock::now() < deadline;) {
        if (lag < 2 && data > lag * (2u << 20)) {
            std::this_thread::sleep_for(500ms);
            ++lag;
        }
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0) break;
        if (n < 0) continue;
        pending.append(buf, static_cast<std::size_t>(n));
        while (pending.size() >= 5) {
            std::uint32_t len;
            std::memcpy(&len, pending.data(), 4);
            len = ntohl(len);
            if (pending.size() < 5 + len) break;
            if (pending[4] == 4)
                data += len; // stdout_data
            else if (!first_frame)
                FAIL("unexpected frame type " << int(pending[4]));
            first_frame = false;
            pending.erase(0, 5 + len);
        }
    }
    ::close(fd);
    CHECK(data == bytes + 2); // the echoed line comes back as "\r\n"
    CHECK_FALSE(contains(l.log(), "client dropped"));
    CHECK(l.stop() == 0);
}
