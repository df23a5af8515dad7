// The control socket against hostile and broken clients: garbage, truncated, oversized, slow and
// non-JSON requests end only their own connection, with an error frame; the supervisor and its
// other clients carry on. Also the socket's permissions and ctrctl's exit codes.
#include "common/temp_dir.hpp"
#include "harness.hpp"
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <poll.h>
#include <sstream>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctr/control/protocol.hpp"
#include "ctr/core/scope_guard.hpp"
#include "ctr/core/unique_fd.hpp"

using namespace ctr::test;
using ctr::control::encode_frame;
using ctr::control::frame_type;
using nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

const char* forever = "sh -c 'trap \"exit 0\" TERM; while true; do sleep 1; done'";

std::string one_container() {
    return fmt::format("[container web]\nrootfs = @ROOTFS@\ncommand = {}\n", forever);
}

double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

std::string raw_header(std::uint32_t length, std::uint8_t type) {
    return {static_cast<char>(length >> 24 & 0xff), static_cast<char>(length >> 16 & 0xff),
            static_cast<char>(length >> 8 & 0xff), static_cast<char>(length & 0xff),
            static_cast<char>(type)};
}

// VmRSS of a process in KiB, or -1 when it is gone.
long rss_kib(pid_t pid) {
    std::ifstream in(fmt::format("/proc/{}/status", pid));
    for (std::string line; std::getline(in, line);)
        if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
    return -1;
}

bool alive(pid_t pid) {
    return ::kill(pid, 0) == 0;
}

// CPU time (user + system) a process has used so far, in seconds.
double cpu_seconds(pid_t pid) {
    auto stat = read_text(fmt::format("/proc/{}/stat", pid));
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    // After "pid (comm) ": state is field 3, utime 14 and stime 15.
    for (int i = 3; i < 14; ++i)
        fields >> field;
    double utime = 0, stime = 0;
    fields >> utime >> stime;
    return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A connection made by hand, byte by byte, reading the supervisor's frames with deadlines.
class raw_client {
  public:
    explicit raw_client(const fs::path& socket)
        : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        REQUIRE(fd_);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket.c_str());
        REQUIRE(::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    }

    void send(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            REQUIRE(n > 0);
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    void send_request(const json& request) {
        send(encode_frame(frame_type::request, request.dump()));
    }
    void end_writing() { REQUIRE(::shutdown(fd_.get(), SHUT_WR) == 0); }

    // The next response frame's JSON; nothing if the connection ended or `limit` passed first.
    std::optional<json> response(std::chrono::milliseconds limit = 5s) {
        auto deadline = clock_type::now() + limit;
        for (;;) {
            if (auto f = decoder_.next()) {
                CHECK(f->type == frame_type::response);
                auto j = json::parse(f->payload, nullptr, false);
                REQUIRE_MESSAGE(!j.is_discarded(), "response is not JSON: " << f->payload);
                return j;
            }
            if (closed_ || !fill(deadline)) return std::nullopt;
        }
    }

    // True once the supervisor closed the connection (EOF, or a reset because it left some of
    // our bytes unread); false if it is still open after `limit`.
    bool closed_within(std::chrono::milliseconds limit) {
        auto deadline = clock_type::now() + limit;
        while (!closed_)
            if (!fill(deadline)) return false;
        return true;
    }

    // Nothing to read and no hang-up right now: the supervisor is still waiting for us.
    bool open_and_quiet() {
        pollfd p{fd_.get(), POLLIN, 0};
        return !closed_ && ::poll(&p, 1, 0) == 0;
    }

  private:
    // One read, waiting at most until `deadline`; false on timeout.
    bool fill(clock_type::time_point deadline) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
        if (left.count() < 0) return false;
        pollfd p{fd_.get(), POLLIN, 0};
        int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) return true;
        if (ready == 0) return false;
        char buf[64 * 1024];
        ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0)
            decoder_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
        else if (n == 0 || errno == ECONNRESET)
            closed_ = true;
        else
            REQUIRE_MESSAGE((errno == EAGAIN || errno == EINTR), "recv: " << errno);
        return true;
    }

    ctr::unique_fd fd_;
    ctr::control::frame_decoder decoder_;
    bool closed_ = false;
};

// A refusal: one error frame naming `what`, then the supervisor hangs up promptly.
void expect_refused(raw_client& c, const std::string& what) {
    auto r = c.response(5s);
    REQUIRE_MESSAGE(r, "no error frame before the connection ended");
    CAPTURE(r->dump());
    CHECK((*r)["ok"] == false);
    REQUIRE((*r)["error"].is_string());
    CHECK((*r)["error"].get<std::string>().find(what) != std::string::npos);
    CHECK(c.closed_within(5s));
}

// A well-behaved client on its own connection still gets a full `ps` answer.
void expect_ps_answers(raw_client& c) {
    c.send_request({{"op", "ps"}});
    auto r = c.response(5s);
    REQUIRE(r);
    CHECK((*r)["ok"] == true);
    REQUIRE((*r)["containers"].is_array());
    CHECK((*r)["containers"].size() == 1);
}

void expect_ctrctl_ps_fast(lab& l) {
    auto t = clock_type::now();
    auto r = l.ctl({"ps"}, 10s);
    CHECK(r.code == 0);
    CHECK(r.out.find("web") != std::string::npos);
    CHECK(seconds_since(t) < 2.0);
}

} // namespace

TEST_CASE("control socket: garbage and bad frames get an error frame and only their own close") {
    CTR_REQUIRE_ROOT();
    lab l(one_container(), "stop_timeout = 1s");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    // A good client stays connected through all of it and is never disturbed.
    raw_client good(l.socket);
    expect_ps_answers(good);

    {
        INFO("garbage: 'GARBA' reads as a header of unknown type 'A' (65)");
        raw_client c(l.socket);
        c.send("GARBAGE! this is not a frame\n");
        expect_refused(c, "unknown frame type 65");
    }
    {
        INFO("a well-sized frame of unknown type 0");
        raw_client c(l.socket);
        c.send(raw_header(3, 0) + "abc");
        expect_refused(c, "unknown frame type 0");
    }
    {
        INFO("a response frame sent to the supervisor");
        raw_client c(l.socket);
        c.send(encode_frame(frame_type::response, R"({"op":"ps"})"));
        expect_refused(c, "expected a request frame");
    }
    {
        INFO("a request frame whose payload is not JSON");
        raw_client c(l.socket);
        c.send(encode_frame(frame_type::request, "{\"op\": \"ps\" this is not json"));
        expect_refused(c, "not valid JSON");
    }
    {
        INFO("a header, then the client hangs up half-way through the payload");
        raw_client c(l.socket);
        c.send(raw_header(100, 1) + std::string(50, '{'));
        c.end_writing();
        expect_refused(c, "truncated frame");
    }
    {
        INFO("three bytes of a header, then the client hangs up");
        raw_client c(l.socket);
        c.send(raw_header(2, 1).substr(0, 3));
        c.end_writing();
        expect_refused(c, "truncated frame header");
    }
    {
        INFO("a client that connects and hangs up without a word is no error");
        raw_client c(l.socket);
        c.end_writing();
        CHECK(!c.response(5s));
        CHECK(c.closed_within(1s));
    }

    expect_ps_answers(good);
    expect_ctrctl_ps_fast(l);
    CHECK(alive(l.pid()));
    CHECK(l.status("web")["state"] == "running");
}

TEST_CASE("control socket: an oversized length is refused before anything is allocated") {
    CTR_REQUIRE_ROOT();
    lab l(one_container(), "stop_timeout = 1s");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    long before = rss_kib(l.pid());
    REQUIRE(before > 0);

    {
        raw_client c(l.socket);
        c.send(raw_header(0xFFFFFFFF, 1));
        expect_refused(c, "4294967295 bytes exceeds the limit");
    }
    {
        // One byte over max_frame: the limit is exact, not approximate.
        raw_client c(l.socket);
        c.send(raw_header(ctr::control::max_frame + 1, 1));
        expect_refused(c, "exceeds the limit");
    }
    {
        // At the limit is allowed: a full 1 MiB payload is read (and refused only as non-JSON).
        raw_client c(l.socket);
        c.send(raw_header(ctr::control::max_frame, 1) + std::string(ctr::control::max_frame, 'x'));
        expect_refused(c, "not valid JSON");
    }

    long after = rss_kib(l.pid());
    CAPTURE(before);
    CAPTURE(after);
    // A 4 GiB buffer touched even in part would show; 64 MiB is far above any honest growth.
    CHECK(after < before + 64 * 1024);
    CHECK(alive(l.pid()));
    expect_ctrctl_ps_fast(l);
}

TEST_CASE("control socket: slow clients never block others and are dropped at the deadline") {
    CTR_REQUIRE_ROOT();
    lab l(one_container(), "stop_timeout = 1s");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));

    auto t = clock_type::now();
    // Half a payload, then silence with the connection open.
    raw_client half(l.socket);
    half.send(raw_header(100, 1) + std::string(50, ' '));
    // Part of a header only.
    raw_client partial_header(l.socket);
    partial_header.send(raw_header(2, 1).substr(0, 2));
    // Many that connect and never say anything.
    std::vector<raw_client> silent;
    silent.reserve(20);
    for (int i = 0; i < 20; ++i)
        silent.emplace_back(l.socket);

    for (int i = 0; i < 3; ++i)
        expect_ctrctl_ps_fast(l);
    // A raw client with a request after the slow ones: answered at once, connection reusable.
    raw_client good(l.socket);
    expect_ps_answers(good);
    expect_ps_answers(good);
    REQUIRE(seconds_since(t) < 8.0); // the checks above ran well inside the deadline
    CHECK(half.open_and_quiet());
    CHECK(partial_header.open_and_quiet());

    // The request deadline is 10 s from the connection; allow 15.
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(15s - (clock_type::now() - t));
    auto r = half.response(left);
    double closed_after = seconds_since(t);
    REQUIRE_MESSAGE(r, "the slow connection got no goodbye within 15 s");
    CHECK((*r)["ok"] == false);
    CHECK((*r)["error"].get<std::string>().find("not received within") != std::string::npos);
    CHECK(half.closed_within(2s));
    CHECK(closed_after >= 9.0);
    CHECK(closed_after < 15.0);
    CHECK(partial_header.closed_within(2s));
    for (auto& s : silent)
        CHECK(s.closed_within(2s));

    // The good connection has been idle since its last request: it too is closed 10 s after
    // it (an idle connection is a slow next request), so no session lingers.
    CHECK(good.closed_within(5s));
    CHECK(alive(l.pid()));
    expect_ctrctl_ps_fast(l);
}

// Regression: with its fds used up by idle clients, accept() fails with EMFILE at once and
// forever, and an accept loop that just logs and retries burns a core and floods the log.
TEST_CASE("control socket: running out of fds does not make the accept loop spin (EMFILE)") {
    CTR_REQUIRE_ROOT();
    lab l(one_container(), "stop_timeout = 1s");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    // A low soft limit on the supervisor alone: a hundred idle clients are then enough.
    rlimit old{};
    REQUIRE(::prlimit(l.pid(), RLIMIT_NOFILE, nullptr, &old) == 0);
    rlimit low{64, old.rlim_max};
    REQUIRE(::prlimit(l.pid(), RLIMIT_NOFILE, &low, nullptr) == 0);

    std::vector<raw_client> idle;
    idle.reserve(100);
    for (int i = 0; i < 100; ++i)
        idle.emplace_back(l.socket);
    std::this_thread::sleep_for(300ms);
    auto log_before = fs::file_size(l.dir / "supervisor.log");
    double cpu_before = cpu_seconds(l.pid());
    std::this_thread::sleep_for(2s);
    double cpu_used = cpu_seconds(l.pid()) - cpu_before;
    auto log_growth = fs::file_size(l.dir / "supervisor.log") - log_before;
    CAPTURE(cpu_used);
    CAPTURE(log_growth);
    CHECK(cpu_used < 0.5);         // waiting for a free fd, not spinning
    CHECK(log_growth < 64 * 1024); // said once (or a few times), not millions of times

    // Once the idle clients are gone, it serves again.
    idle.clear();
    REQUIRE(::prlimit(l.pid(), RLIMIT_NOFILE, &old, nullptr) == 0);
    CHECK(alive(l.pid()));
    auto r = l.ctl({"ps"}, 20s);
    CHECK(r.code == 0);
    CHECK(l.status("web")["state"] == "running");
}

TEST_CASE("control socket: a bad request gets ok=false and the connection stays usable") {
    CTR_REQUIRE_ROOT();
    lab l(one_container(), "stop_timeout = 1s");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    raw_client c(l.socket);

    auto refused = [&](const json& request, const std::string& what) {
        CAPTURE(request.dump());
        c.send_request(request);
        auto r = c.response(5s);
        REQUIRE(r);
        CAPTURE(r->dump());
        CHECK((*r)["ok"] == false);
        CHECK((*r)["error"].get<std::string>().find(what) != std::string::npos);
        CHECK(c.open_and_quiet());
    };
    refused({{"op", "frobnicate"}}, "unknown op 'frobnicate'");
    expect_ps_answers(c);
    refused(json::array({1, 2, 3}), "a request is a JSON object with an \"op\"");
    refused({{"name", "web"}}, "a request is a JSON object with an \"op\"");
    refused({{"op", 42}}, "a request is a JSON object with an \"op\"");
    refused({{"op", "stop"}}, "request needs a \"name\"");
    refused({{"op", "stop"}, {"name", "nope"}}, "no container named 'nope'");
    refused({{"op", "kill"}, {"name", "web"}, {"signal", "TERM"}}, "must be a signal number");
    refused({{"op", "kill"}, {"name", "web"}, {"signal", 9999}}, "invalid signal 9999");
    refused({{"op", "wait"}, {"names", json::array({"nope"})}, {"state", "running"}},
            "no container named 'nope'");

    // Two requests in one write are answered in order.
    c.send(encode_frame(frame_type::request, R"({"op":"nope"})") +
           encode_frame(frame_type::request, R"({"op":"ps"})"));
    auto first = c.response(5s), second = c.response(5s);
    REQUIRE(first);
    REQUIRE(second);
    CHECK((*first)["ok"] == false);
    CHECK((*second)["ok"] == true);

    expect_ps_answers(c);
    CHECK(l.status("web")["state"] == "running");
    CHECK(alive(l.pid()));
}

TEST_CASE("control socket: the socket is 0600 and its new folder 0700, whatever the umask") {
    CTR_REQUIRE_ROOT();
    lab l(one_container(), "stop_timeout = 1s");
    // The supervisor listens in a folder it must create itself (CTR_SOCKET overrides the
    // config); the lab finds it through a symlink at its usual socket path.
    fs::path real = l.dir / "run" / "ctr" / "ctr.sock";
    fs::create_symlink(real, l.socket);
    REQUIRE(::setenv("CTR_SOCKET", real.c_str(), 1) == 0);
    bool started = false;
    {
        mode_t old_umask = ::umask(0);
        ctr::scope_guard restore([&] {
            ::umask(old_umask);
            ::unsetenv("CTR_SOCKET");
        });
        started = l.start();
    }
    REQUIRE(started);

    struct stat st {};
    REQUIRE(::lstat(real.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(st.st_uid == 0);
    for (const fs::path& dir : {real.parent_path(), real.parent_path().parent_path()}) {
        CAPTURE(dir);
        REQUIRE(::lstat(dir.c_str(), &st) == 0);
        CHECK(S_ISDIR(st.st_mode));
        CHECK((st.st_mode & 07777) == 0700);
    }
    CHECK(l.ctl({"ps"}).code == 0);

    // The socket goes away with the supervisor.
    CHECK(l.stop(SIGTERM) == 0);
    CHECK(!fs::exists(fs::symlink_status(real)));
}

TEST_CASE("control socket: ctrctl exit codes") {
    SUBCASE("usage errors exit 2 (no root needed)") {
        fs::path ctl = build_dir() / "ctrctl";
        auto none = run({ctl.string()}, 10s);
        CHECK(none.code == 2);
        CHECK(!none.err.empty());
        auto flag = run({ctl.string(), "ps", "--no-such-flag"}, 10s);
        CHECK(flag.code == 2);
        CHECK(flag.err.find("--no-such-flag") != std::string::npos);
        auto sub = run({ctl.string(), "frobnicate"}, 10s);
        CHECK(sub.code == 2);
        auto bad_signal = run({ctl.string(), "kill", "-s", "NOPE", "web"}, 10s);
        CHECK(bad_signal.code == 2);
    }
    SUBCASE("no socket: exit 1 with one line") {
        temp_dir tmp("ctr-it-ctl");
        const fs::path& dir = tmp.path;
        auto r =
            run({(build_dir() / "ctrctl").string(), "--socket", (dir / "nope.sock").string(), "ps"},
                10s);
        CAPTURE(r.err);
        CHECK(r.code == 1);
        CHECK(r.err.starts_with("ctrctl: "));
        CHECK(r.err.find((dir / "nope.sock").string()) != std::string::npos);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        CHECK(r.err.back() == '\n');
        CHECK(r.out.empty());
    }
    SUBCASE("against a supervisor") {
        CTR_REQUIRE_ROOT();
        lab l(one_container(), "stop_timeout = 1s");
        REQUIRE(l.start());
        REQUIRE(l.wait_state("running", {}));
        auto ps = l.ctl({"ps"});
        CHECK(ps.code == 0);
        CHECK(ps.err.empty());
        auto stop = l.ctl({"stop", "x"});
        CHECK(stop.code == 1);
        CHECK(stop.err == "ctrctl: no container named 'x'\n");
        CHECK(stop.out.empty());
        CHECK(l.ctl({"stop", "web"}).code == 0);
        CHECK(l.status("web")["state"] == "stopped");
    }
}
