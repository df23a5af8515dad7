// ctrctl attach, logs and exec against a scripted fake supervisor, with the test's own stdin,
// stdout and stderr standing in for the user's.
#include "common/listening_socket.hpp"
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <optional>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <termios.h>
#include <thread>
#include <tuple>
#include <unistd.h>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "ctr/control/protocol.hpp"
#include "ctr/control/stream.hpp"
#include "ctr/control/stream_client.hpp"
#include "ctr/core/unique_fd.hpp"

using namespace ctr::control;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// The supervisor's end of one connection, as the script sees it.
class peer {
  public:
    explicit peer(ctr::unique_fd fd) : fd_(std::move(fd)) {}

    // The next frame, or nothing at EOF, on a broken stream, or after 10 s of silence.
    std::optional<frame> next() {
        std::array<char, 65536> buf;
        while (true) {
            try {
                if (auto f = decoder_.next()) return f;
            } catch (const protocol_error&) {
                return std::nullopt;
            }
            // A client that never sends what the script awaits fails the test, not hang it:
            // the script ends, the connection closes, and the client sees a lost connection.
            pollfd pfd{fd_.get(), POLLIN, 0};
            if (::poll(&pfd, 1, 10'000) != 1) return std::nullopt;
            ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
            if (n <= 0) return std::nullopt;
            decoder_.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        }
    }
    json request() {
        auto f = next();
        if (!f || f->type != frame_type::request) return nullptr;
        return json::parse(f->payload, nullptr, false);
    }
    void raw(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    void send(frame_type t, std::string_view payload) { raw(encode_frame(t, payload)); }
    void respond(const json& j) { send(frame_type::response, j.dump()); }
    void close() { fd_.reset(); }

  private:
    ctr::unique_fd fd_;
    frame_decoder decoder_;
};

// Serves one connection on a socket in a temporary folder with `script`, on its own thread.
struct scripted_supervisor {
    ctr::test::listening_socket listener{"ctrctl-stream"};
    std::filesystem::path socket = listener.path;
    std::thread thread;

    explicit scripted_supervisor(std::function<void(peer&)> script) {
        thread = std::thread([this, script = std::move(script)] {
            // Signals the test sends are for the client's thread, never this one.
            sigset_t all;
            sigfillset(&all);
            ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
            ctr::unique_fd conn(::accept4(listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!conn) return;
            peer p(std::move(conn));
            script(p);
        });
    }
    ~scripted_supervisor() {
        listener.shut_down();
        if (thread.joinable()) thread.join();
    }
    void join() {
        if (thread.joinable()) thread.join();
    }
};

// A memfd standing in for stdout or stderr: a file, so writes never block the test.
struct capture {
    ctr::unique_fd fd{::memfd_create("capture", MFD_CLOEXEC)};
    std::string text() const {
        std::string out;
        std::array<char, 65536> buf;
        off_t off = 0;
        while (true) {
            ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), off);
            if (n <= 0) return out;
            out.append(buf.data(), static_cast<std::size_t>(n));
            off += n;
        }
    }
};

ctr::unique_fd file_with(std::string_view content) {
    ctr::unique_fd fd(::memfd_create("stdin", MFD_CLOEXEC));
    REQUIRE(::write(fd.get(), content.data(), content.size()) ==
            static_cast<ssize_t>(content.size()));
    REQUIRE(::lseek(fd.get(), 0, SEEK_SET) == 0);
    return fd;
}

struct pipe_pair {
    ctr::unique_fd read, write;
    pipe_pair() {
        int p[2];
        REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
        read.reset(p[0]);
        write.reset(p[1]);
    }
};

// Points fds 0, 1 and 2 at the given ones for its lifetime. Assertions belong after it ends,
// or their report lands in the capture.
class redirect {
  public:
    redirect(int in, int out, int err) {
        for (int i = 0; i < 3; ++i) {
            saved_[i].reset(::fcntl(i, F_DUPFD_CLOEXEC, 10));
            ::dup2(std::array{in, out, err}[i], i);
        }
    }
    ~redirect() {
        for (int i = 0; i < 3; ++i)
            ::dup2(saved_[i].get(), i);
    }

  private:
    std::array<ctr::unique_fd, 3> saved_;
};

struct result {
    int code;
    std::string out, err;
};

result run(std::function<int()> command, int in) {
    capture out, err;
    int code;
    {
        redirect r(in, out.fd.get(), err.fd.get());
        code = command();
    }
    return {code, out.text(), err.text()};
}

// What the script saw after the response, as (type, payload); stdin_data runs are merged.
using seen = std::vector<std::pair<frame_type, std::string>>;
seen read_until_eof(peer& p) {
    seen s;
    while (auto f = p.next()) {
        if (f->type == frame_type::stdin_data && !s.empty() &&
            s.back().first == frame_type::stdin_data)
            s.back().second += f->payload;
        else
            s.emplace_back(f->type, f->payload);
    }
    return s;
}

} // namespace

TEST_CASE("piped attach sends stdin, then detaches once the output settled") {
    json request;
    seen frames;
    std::chrono::steady_clock::time_point answered, detached;
    scripted_supervisor sup([&](peer& p) {
        request = p.request();
        p.respond({{"ok", true}, {"tty", false}});
        p.send(frame_type::stdout_data, "scrollback\n");
        auto f = p.next();
        if (!f) return;
        frames.emplace_back(f->type, f->payload);
        p.send(frame_type::stdout_data, "web-1\n");
        answered = std::chrono::steady_clock::now();
        for (auto& fr : read_until_eof(p)) {
            if (fr.first == frame_type::detach) detached = std::chrono::steady_clock::now();
            frames.push_back(fr);
        }
    });
    auto in = file_with("hostname\n");
    auto r = run([&] { return attach(sup.socket, "web", {}); }, in.get());
    sup.join();

    CHECK(r.code == 0);
    CHECK(r.out == "scrollback\nweb-1\n");
    CHECK(r.err == "");
    CHECK(request == json{{"op", "attach"}, {"name", "web"}, {"replay", true}});
    REQUIRE(frames.size() == 2);
    CHECK(frames[0] == std::pair{frame_type::stdin_data, std::string("hostname\n")});
    CHECK(frames[1].first == frame_type::detach);
    CHECK(detached - answered >= 250ms);
}

TEST_CASE("attach --no-replay says so in the request") {
    json request;
    scripted_supervisor sup([&](peer& p) {
        request = p.request();
        p.respond({{"ok", true}, {"tty", false}});
        read_until_eof(p);
    });
    auto in = file_with("");
    auto r = run([&] { return attach(sup.socket, "web", {.replay = false, .detach_keys = {}}); },
                 in.get());
    sup.join();
    CHECK(r.code == 0);
    CHECK(request.value("replay", true) == false);
}

TEST_CASE("attach returns the container's exit code and says how it ended") {
    struct example {
        json exit;
        int code;
        std::string message;
    };
    for (const auto& ex : {
             example{{{"exit_code", 3}, {"signal", nullptr}}, 3, "web exited with code 3\n"},
             example{{{"exit_code", nullptr}, {"signal", "SIGKILL"}, {"reason", "oom-killed"}},
                     137,
                     "web killed by SIGKILL (oom-killed)\n"},
             example{{{"signal", 15}}, 143, "web killed by SIGTERM\n"},
             example{{{"exit_code", 127}, {"error", "exec \"/bin/x\": No such file or directory"}},
                     127,
                     "web exited with code 127: exec \"/bin/x\": No such file or directory\n"},
         }) {
        CAPTURE(ex.exit.dump());
        scripted_supervisor sup([&](peer& p) {
            p.request();
            p.respond({{"ok", true}, {"tty", false}});
            p.send(frame_type::stdout_data, "bye\n");
            p.send(frame_type::exit, ex.exit.dump());
        });
        pipe_pair in; // never ends: only the exit frame ends this attach
        auto r = run([&] { return attach(sup.socket, "web", {}); }, in.read.get());
        CHECK(r.code == ex.code);
        CHECK(r.out == "bye\n");
        CHECK(r.err == ex.message);
    }
}

TEST_CASE("stream errors end with one ctrctl line and exit 1") {
    struct example {
        const char* what;
        std::function<void(peer&)> script;
        std::string message;
    };
    for (const auto& ex : {
             example{"an error frame",
                     [](peer& p) {
                         p.request();
                         p.respond({{"ok", true}, {"tty", false}});
                         p.send(frame_type::error, "client fell behind by 1 MiB");
                     },
                     "ctrctl: client fell behind by 1 MiB\n"},
             example{"a refused request",
                     [](peer& p) {
                         p.request();
                         p.respond({{"ok", false}, {"error", "no container named 'web'"}});
                     },
                     "ctrctl: no container named 'web'\n"},
             example{"EOF without an exit",
                     [](peer& p) {
                         p.request();
                         p.respond({{"ok", true}, {"tty", false}});
                     },
                     "ctrctl: lost connection to the supervisor\n"},
         }) {
        CAPTURE(ex.what);
        scripted_supervisor sup(ex.script);
        pipe_pair in;
        auto r = run([&] { return attach(sup.socket, "web", {}); }, in.read.get());
        CHECK(r.code == 1);
        CHECK(r.err == ex.message);
    }
}

TEST_CASE("a garbage frame from the supervisor ends the stream with exit 1") {
    for (std::string garbage :
         {std::string("\0\0\0\1\x63x", 6), std::string("\xff\xff\xff\xff\x04"),
          encode_frame(frame_type::request, "{}"), encode_frame(frame_type::exit, "not json")}) {
        scripted_supervisor sup([&](peer& p) {
            p.request();
            p.respond({{"ok", true}, {"tty", false}});
            p.raw(garbage);
            read_until_eof(p);
        });
        pipe_pair in;
        auto r = run([&] { return attach(sup.socket, "web", {}); }, in.read.get());
        CHECK(r.code == 1);
        CHECK(r.err.starts_with("ctrctl: "));
        CHECK(r.err.find("frame") != std::string::npos);
    }
}

TEST_CASE("no supervisor: one line and exit 1") {
    pipe_pair in;
    auto r = run([&] { return logs("/nonexistent/ctr.sock", "web", {}); }, in.read.get());
    CHECK(r.code == 1);
    CHECK(r.err.find("is ctr-supervisor running?") != std::string::npos);
}

TEST_CASE("logs writes the bytes until EOF") {
    json request;
    std::string big(3 << 20, 'x');
    for (std::size_t i = 0; i < big.size(); i += 4099)
        big[i] = '\n';
    scripted_supervisor sup([&](peer& p) {
        request = p.request();
        p.respond({{"ok", true}});
        for (std::size_t off = 0; off < big.size(); off += 100'000)
            p.send(frame_type::stdout_data, std::string_view(big).substr(off, 100'000));
    });
    auto in = file_with("");
    auto r = run([&] { return logs(sup.socket, "web", {.follow = false, .tail = 20}); }, in.get());
    CHECK(r.code == 0);
    CHECK(r.out == big);
    CHECK(r.err == "");
    CHECK(request == json{{"op", "logs"}, {"name", "web"}, {"follow", false}, {"tail", 20}});
}

TEST_CASE("logs -f ends quietly at SIGINT") {
    pthread_t client = ::pthread_self();
    json request;
    scripted_supervisor sup([&](peer& p) {
        request = p.request();
        p.respond({{"ok", true}});
        p.send(frame_type::stdout_data, "line\n");
        ::pthread_kill(client, SIGINT);
        read_until_eof(p);
    });
    auto in = file_with("");
    auto r = run([&] { return logs(sup.socket, "web", {.follow = true, .tail = {}}); }, in.get());
    CHECK(r.code == 0);
    CHECK(r.out == "line\n");
    CHECK(request.value("follow", false) == true);
    CHECK(!request.contains("tail"));
}

TEST_CASE("exec sends argv, env, workdir and stdin, then close_stdin, and returns the code") {
    json request;
    seen frames;
    scripted_supervisor sup([&](peer& p) {
        request = p.request();
        p.respond({{"ok", true}, {"tty", false}});
        while (auto f = p.next()) {
            if (f->type == frame_type::stdin_data && !frames.empty() &&
                frames.back().first == frame_type::stdin_data)
                frames.back().second += f->payload;
            else
                frames.emplace_back(f->type, f->payload);
            if (f->type == frame_type::close_stdin) break;
        }
        p.send(frame_type::stdout_data, "out\n");
        p.send(frame_type::stderr_data, "err\n");
        p.send(frame_type::exit, json{{"exit_code", 7}, {"signal", nullptr}}.dump());
    });
    auto in = file_with("some input\n");
    exec_options opts{.argv = {"sh", "-c", "cat; exit 7"},
                      .env = {"A=1", "B=two words"},
                      .workdir = "/tmp",
                      .tty = false,
                      .interactive = true};
    auto r = run([&] { return exec(sup.socket, "web", opts); }, in.get());
    CHECK(r.code == 7);
    CHECK(r.out == "out\n");
    CHECK(r.err == "err\n");
    CHECK(request == json{{"op", "exec"},
                          {"name", "web"},
                          {"argv", {"sh", "-c", "cat; exit 7"}},
                          {"env", {"A=1", "B=two words"}},
                          {"workdir", "/tmp"},
                          {"tty", false},
                          {"stdin", true}});
    REQUIRE(frames.size() == 2);
    CHECK(frames[0] == std::pair{frame_type::stdin_data, std::string("some input\n")});
    CHECK(frames[1].first == frame_type::close_stdin);
}

TEST_CASE("exec without -i reads no stdin, forwards SIGTERM and returns 128+N") {
    pthread_t client = ::pthread_self();
    seen frames;
    scripted_supervisor sup([&](peer& p) {
        p.request();
        p.respond({{"ok", true}, {"tty", false}});
        ::pthread_kill(client, SIGTERM);
        auto f = p.next();
        if (!f) return;
        frames.emplace_back(f->type, f->payload);
        p.send(frame_type::exit, json{{"signal", "SIGTERM"}}.dump());
    });
    auto in = file_with("not to be read");
    exec_options opts;
    opts.argv = {"sleep", "100"};
    auto r = run([&] { return exec(sup.socket, "web", opts); }, in.get());
    CHECK(r.code == 143);
    CHECK(r.err == "");
    REQUIRE(frames.size() == 1);
    CHECK(frames[0] == std::pair{frame_type::signal, encode_signal(SIGTERM)});
}

TEST_CASE("exec refuses an environment entry that is not K=V") {
    auto in = file_with("");
    exec_options opts;
    opts.argv = {"true"};
    opts.env = {"A"};
    auto r = run([&] { return exec("/nonexistent", "web", opts); }, in.get());
    CHECK(r.code == 1);
    CHECK(r.err.find("'A'") != std::string::npos);
}

TEST_CASE("SIGTERM during attach detaches and returns 128+N; the container keeps running") {
    pthread_t client = ::pthread_self();
    seen frames;
    scripted_supervisor sup([&](peer& p) {
        p.request();
        p.respond({{"ok", true}, {"tty", false}});
        ::pthread_kill(client, SIGTERM);
        frames = read_until_eof(p);
    });
    pipe_pair in;
    auto r = run([&] { return attach(sup.socket, "web", {}); }, in.read.get());
    sup.join();
    CHECK(r.code == 143);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].first == frame_type::detach);
}

TEST_CASE("a closed stdout detaches quietly, like `| head`") {
    seen frames;
    scripted_supervisor sup([&](peer& p) {
        p.request();
        p.respond({{"ok", true}, {"tty", false}});
        p.send(frame_type::stdout_data, "y\n");
        frames = read_until_eof(p);
    });
    pipe_pair in, out;
    out.read.reset();
    capture err;
    int code;
    {
        redirect r(in.read.get(), out.write.get(), err.fd.get());
        code = attach(sup.socket, "web", {});
    }
    sup.join();
    CHECK(code == 0);
    CHECK(err.text() == "");
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].first == frame_type::detach);
}

TEST_CASE("attach on a terminal: raw mode, size, resize on SIGWINCH, detach keys") {
    ctr::unique_fd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    REQUIRE(master);
    REQUIRE(::grantpt(master.get()) == 0);
    REQUIRE(::unlockpt(master.get()) == 0);
    ctr::unique_fd slave(::open(::ptsname(master.get()), O_RDWR | O_NOCTTY | O_CLOEXEC));
    REQUIRE(slave);
    winsize ws{};
    ws.ws_row = 30;
    ws.ws_col = 100;
    REQUIRE(::ioctl(slave.get(), TIOCSWINSZ, &ws) == 0);
    termios before{};
    REQUIRE(::tcgetattr(slave.get(), &before) == 0);

    pthread_t client = ::pthread_self();
    json request;
    seen frames;
    bool was_raw = false;
    scripted_supervisor sup([&](peer& p) {
        request = p.request();
        p.respond({{"ok", true}, {"tty", true}});
        winsize bigger{};
        bigger.ws_row = 40;
        bigger.ws_col = 120;
        ::ioctl(slave.get(), TIOCSWINSZ, &bigger);
        ::pthread_kill(client, SIGWINCH);
        auto f = p.next();
        if (!f) return;
        frames.emplace_back(f->type, f->payload);
        // The client relays, so it has set up its terminal by now.
        termios now{};
        ::tcgetattr(slave.get(), &now);
        was_raw = !(now.c_lflag & (ECHO | ICANON | ISIG));
        // The sequence split across writes, and a ctrl-p that turns out not to be one.
        (void)!::write(master.get(), "ab\x10", 3);
        std::this_thread::sleep_for(50ms);
        (void)!::write(master.get(), "c\x10", 2);
        std::this_thread::sleep_for(50ms);
        (void)!::write(master.get(), "\x11zz", 3);
        for (auto& fr : read_until_eof(p))
            frames.push_back(fr);
    });
    auto r = run([&] { return attach(sup.socket, "web", {}); }, slave.get());
    sup.join();

    CHECK(r.code == 0);
    CHECK(r.err == "\n[detached from web]\n");
    CHECK(request ==
          json{{"op", "attach"}, {"name", "web"}, {"replay", true}, {"rows", 30}, {"cols", 100}});
    CHECK(was_raw);
    REQUIRE(frames.size() == 3);
    CHECK(frames[0] == std::pair{frame_type::resize, encode_resize({40, 120})});
    CHECK(frames[1] == std::pair{frame_type::stdin_data, std::string("ab\x10"
                                                                     "c")});
    CHECK(frames[2].first == frame_type::detach);
    termios after{};
    REQUIRE(::tcgetattr(slave.get(), &after) == 0);
    CHECK(after.c_lflag == before.c_lflag);
    CHECK(after.c_iflag == before.c_iflag);
    CHECK(after.c_oflag == before.c_oflag);
}

TEST_CASE("CTR_DETACH_KEYS replaces the default; --detach-keys replaces both") {
    for (auto [env, option, typed] :
         {std::tuple{"ctrl-a", "", "\x01"}, std::tuple{"ctrl-a", "x,y", "xy"}}) {
        ctr::unique_fd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
        REQUIRE(master);
        REQUIRE(::grantpt(master.get()) == 0);
        REQUIRE(::unlockpt(master.get()) == 0);
        ctr::unique_fd slave(::open(::ptsname(master.get()), O_RDWR | O_NOCTTY | O_CLOEXEC));
        REQUIRE(slave);
        seen frames;
        scripted_supervisor sup([&](peer& p) {
            p.request();
            // A terminal in the container: ours goes raw, so keys arrive without a newline.
            p.respond({{"ok", true}, {"tty", true}});
            (void)!::write(master.get(), typed, std::strlen(typed));
            frames = read_until_eof(p);
        });
        ::setenv("CTR_DETACH_KEYS", env, 1);
        auto r =
            run([&] { return attach(sup.socket, "web", {.replay = true, .detach_keys = option}); },
                slave.get());
        ::unsetenv("CTR_DETACH_KEYS");
        sup.join();
        CHECK(r.code == 0);
        REQUIRE(frames.size() == 1);
        CHECK(frames[0].first == frame_type::detach);
    }
}
