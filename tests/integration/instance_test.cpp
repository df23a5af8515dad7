// The supervisor itself: one instance per state dir, what it does with what sits at its socket
// path, config errors, a clean shutdown that leaves nothing, and recovery after it was killed.
#include "common/temp_dir.hpp"
#include "harness.hpp"
#include <fstream>
#include <map>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "ctr/core/unique_fd.hpp"

using ctr::test::temp_dir;

using namespace ctr::test;
using clock_type = std::chrono::steady_clock;

namespace {

const char* forever = "sh -c 'trap \"exit 0\" TERM; while true; do sleep 1; done'";

std::string supervisor_bin() {
    return (build_dir() / "ctr-supervisor").string();
}

bool contains(const std::string& text, const std::string& what) {
    return text.find(what) != std::string::npos;
}

// name -> {pid, pid namespace} of every container that has a process.
std::map<std::string, std::pair<pid_t, std::string>> processes_of(lab& l) {
    std::map<std::string, std::pair<pid_t, std::string>> out;
    for (auto& c : l.ps()) {
        if (c["pid"].is_null()) continue;
        auto pid = c["pid"].get<pid_t>();
        auto ns = ns_of(pid, "pid");
        REQUIRE_MESSAGE(!ns.empty(), "no pid namespace for pid " << pid);
        // The container lives in a pid namespace of its own, never the host's.
        REQUIRE(ns != ns_of(::getpid(), "pid"));
        out[c["name"].get<std::string>()] = {pid, ns};
    }
    return out;
}

std::vector<pid_t> left_in(const std::map<std::string, std::pair<pid_t, std::string>>& procs) {
    std::vector<pid_t> left;
    for (auto& [name, p] : procs)
        for (pid_t pid : processes_in_pid_ns(p.second))
            left.push_back(pid);
    return left;
}

// A temporary folder of the test's own (for configs that never reach a lab).

// 1-based line of the first line of `file` that contains `what`; 0 when none does.
int line_of(const fs::path& file, const std::string& what) {
    std::ifstream in(file);
    int n = 0;
    for (std::string line; std::getline(in, line);) {
        ++n;
        if (contains(line, what)) return n;
    }
    return 0;
}

} // namespace

TEST_CASE(
    "instance: a second supervisor on the same state dir refuses and leaves the first alone") {
    CTR_REQUIRE_ROOT();
    lab l(fmt::format("[container web]\nrootfs = @ROOTFS@\ncommand = {}\n", forever),
          "stop_timeout = 1s");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    auto before = processes_of(l);
    REQUIRE(before.size() == 1);

    auto second = run({supervisor_bin(), "--config", l.config.string()}, 10s);
    CAPTURE(second.err);
    CHECK(second.code == 1);
    CHECK(contains(second.err, "another ctr-supervisor"));

    // Same state dir, its own socket: still refused, and that socket never appears.
    fs::path other = l.dir / "other.sock";
    auto third =
        run({supervisor_bin(), "--config", l.config.string(), "--socket", other.string()}, 10s);
    CAPTURE(third.err);
    CHECK(third.code == 1);
    CHECK(contains(third.err, "another ctr-supervisor"));
    CHECK(!fs::exists(fs::symlink_status(other)));

    // Another state dir but the same socket: refused because someone answers there.
    fs::path other_config = l.dir / "other.ini";
    {
        std::string text = read_text(l.config);
        std::string from = "state_dir = " + l.state_dir.string();
        auto at = text.find(from);
        REQUIRE(at != std::string::npos);
        text.replace(at, from.size(), "state_dir = " + (l.dir / "other-state").string());
        std::ofstream(other_config) << text;
    }
    auto fourth = run({supervisor_bin(), "--config", other_config.string()}, 10s);
    CAPTURE(fourth.err);
    CHECK(fourth.code == 1);
    CHECK(contains(fourth.err, "another ctr-supervisor is listening on " + l.socket.string()));
    CHECK(!fs::exists(l.dir / "other-state" / "containers"));

    // The first one's socket was not unlinked, its lock is still there, and its container is
    // the same process as before.
    CHECK(fs::is_socket(l.socket));
    CHECK(fs::exists(l.state_dir / "lock"));
    auto ps = l.ctl({"ps"});
    CHECK(ps.code == 0);
    CHECK(contains(ps.out, "web"));
    CHECK(processes_of(l) == before);
    CHECK(l.status("web")["state"] == "running");
    CHECK(l.stop(SIGTERM) == 0);
}

TEST_CASE("instance: a stale socket left by a dead run is replaced") {
    CTR_REQUIRE_ROOT();
    lab l(fmt::format("[container web]\nrootfs = @ROOTFS@\ncommand = {}\n", forever),
          "stop_timeout = 1s");
    {
        // Bound, never listening, closed: what a SIGKILLed supervisor leaves behind.
        ctr::unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(fd);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", l.socket.c_str());
        REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    }
    REQUIRE(fs::is_socket(l.socket));
    REQUIRE(l.start());
    CHECK(l.wait_state("running", {}));
    CHECK(l.ctl({"ps"}).code == 0);
    CHECK(contains(l.log(), "replacing stale socket"));
}

TEST_CASE("instance: a file that is not a socket at the socket path is refused and kept") {
    CTR_REQUIRE_ROOT();
    lab l(fmt::format("[container web]\nrootfs = @ROOTFS@\ncommand = {}\n", forever),
          "stop_timeout = 1s");
    std::ofstream(l.socket) << "precious\n";
    auto r = run({supervisor_bin(), "--config", l.config.string()}, 10s);
    CAPTURE(r.err);
    CHECK(r.code == 1);
    CHECK(contains(r.err, "is not a socket"));
    CHECK(fs::is_regular_file(l.socket));
    CHECK(read_text(l.socket) == "precious\n");
    // Nothing was started before the refusal.
    CHECK(!fs::exists(l.state_dir / "containers"));

    // A folder there is refused the same way.
    fs::remove(l.socket);
    fs::create_directory(l.socket);
    r = run({supervisor_bin(), "--config", l.config.string()}, 10s);
    CHECK(r.code == 1);
    CHECK(fs::is_directory(l.socket));
}

TEST_CASE("instance: config errors exit 2 with file:line; --check validates") {
    // No root needed: nothing starts.
    temp_dir tmp;
    fs::path image = tmp.path / "image";
    fs::create_directory(image);
    fs::path good = tmp.path / "good.ini", bad = tmp.path / "bad.ini";
    std::ofstream(good) << fmt::format("[supervisor]\nsocket = {}\nstate_dir = {}\n\n"
                                       "[container web]\nrootfs = {}\ncommand = {}\n",
                                       (tmp.path / "ctr.sock").string(),
                                       (tmp.path / "state").string(), image.string(), forever);
    std::ofstream(bad) << fmt::format("# a typo\n[supervisor]\nsocket = {}\nstate_dir = {}\n\n"
                                      "[container web]\nrootfs = {}\ncommand = {}\n"
                                      "comand = x\n",
                                      (tmp.path / "ctr.sock").string(),
                                      (tmp.path / "state").string(), image.string(), forever);
    int line = line_of(bad, "comand = x");
    REQUIRE(line == 9);
    std::string expected =
        fmt::format("{}:{}: unknown key 'comand' in [container web]", bad.string(), line);

    auto run_bad = run({supervisor_bin(), "--config", bad.string()}, 10s);
    CAPTURE(run_bad.err);
    CHECK(run_bad.code == 2);
    CHECK(contains(run_bad.err, expected));
    // Refused before touching anything.
    CHECK(!fs::exists(tmp.path / "state"));
    CHECK(!fs::exists(tmp.path / "ctr.sock"));

    auto check_bad = run({supervisor_bin(), "--config", bad.string(), "--check"}, 10s);
    CAPTURE(check_bad.err);
    CHECK(check_bad.code == 2);
    CHECK(contains(check_bad.err, expected));

    auto check_good = run({supervisor_bin(), "--config", good.string(), "--check"}, 10s);
    CAPTURE(check_good.err);
    CHECK(check_good.code == 0);
    CHECK(contains(check_good.out, "ok, 1 container(s)"));
    CHECK(!fs::exists(tmp.path / "state"));

    auto missing = run({supervisor_bin(), "--config", (tmp.path / "nope.ini").string()}, 10s);
    CHECK(missing.code == 2);
    CHECK(contains(missing.err, "nope.ini"));

    auto usage = run({supervisor_bin()}, 10s); // --config is required
    CHECK(usage.code == 2);
}

TEST_CASE("instance: SIGTERM stops everything and leaves nothing behind") {
    CTR_REQUIRE_ROOT();
    // One that stops at SIGTERM, and one that ignores it (PID 1 without a handler) and must be
    // killed after stop_timeout.
    lab l(fmt::format("[container polite]\nrootfs = @ROOTFS@\ncommand = {}\nreplicas = 2\n\n"
                      "[container stubborn]\nrootfs = @ROOTFS@\ncommand = sleep 1000\n",
                      forever),
          "stop_timeout = 1s");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    auto procs = processes_of(l);
    REQUIRE(procs.size() == 3);
    REQUIRE(left_in(procs).size() >= 3);
    REQUIRE(fs::is_directory(l.state_dir / "containers"));
    REQUIRE(fs::exists(l.state_dir / "lock"));

    // An idle client does not hold up the shutdown.
    ctr::unique_fd idle(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(idle);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", l.socket.c_str());
    REQUIRE(::connect(idle.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

    auto t = clock_type::now();
    CHECK(l.stop(SIGTERM) == 0);
    CHECK(clock_type::now() - t < 5s);
    CHECK(!fs::exists(fs::symlink_status(l.socket)));
    CHECK(!fs::exists(l.state_dir / "containers"));
    CHECK(!fs::exists(l.state_dir / "lock"));
    CHECK(host_mounts_mentioning(l.dir.string()).empty());
    CHECK(left_in(procs).empty());
    CHECK(contains(l.log(), "all containers stopped"));
}

TEST_CASE("instance: after a SIGKILL of the supervisor its containers die and the next run "
          "cleans up") {
    CTR_REQUIRE_ROOT();
    lab l(fmt::format("[container web]\nrootfs = @ROOTFS@\ncommand = {}\nreplicas = 3\n", forever),
          "stop_timeout = 1s");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    auto procs = processes_of(l);
    REQUIRE(procs.size() == 3);
    for (auto& [name, p] : procs) {
        REQUIRE(fs::is_directory(l.upper(name)));
        std::ofstream(l.upper(name) / "marker") << "from the dead run\n";
        REQUIRE(fs::exists(l.upper(name) / "marker"));
    }

    CHECK(l.stop(SIGKILL) == 128 + SIGKILL);
    // Nothing of the containers outlives their supervisor for long.
    auto deadline = clock_type::now() + 5s;
    while (!left_in(procs).empty() && clock_type::now() < deadline)
        std::this_thread::sleep_for(50ms);
    CHECK(left_in(procs).empty());
    // What it left: its socket and its containers' files, which the next run must deal with.
    CHECK(fs::is_socket(l.socket));
    for (auto& [name, p] : procs)
        CHECK(fs::exists(l.upper(name) / "marker"));

    std::string first_log = l.log();
    REQUIRE(l.start());
    std::string second_log = l.log().substr(first_log.size());
    CAPTURE(second_log);
    CHECK(!contains(second_log, "another ctr-supervisor"));
    CHECK(contains(second_log, "replacing stale socket"));
    CHECK(contains(second_log, "removed 3 container(s) left by a previous run"));
    REQUIRE(l.wait_state("running", {}));
    auto again = processes_of(l);
    REQUIRE(again.size() == 3);
    for (auto& [name, p] : procs) {
        CAPTURE(name);
        CHECK(fs::is_directory(l.upper(name)));
        CHECK(!fs::exists(l.upper(name) / "marker"));
    }
    CHECK(l.stop(SIGTERM) == 0);
    CHECK(left_in(again).empty());
}
