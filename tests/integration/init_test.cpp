// `init = true`: ctr-init as PID 1 passes signals on (a shell's stop takes no grace), reaps
// orphans, passes the command's exit status and exec errors through, runs from a sealed memfd no
// container can write, and leaves the command only fds 0, 1, 2. Each test sets a container
// without init beside one with it where the difference is the point.
#include "harness.hpp"
#include <algorithm>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace ctr::test;
using clock_type = std::chrono::steady_clock;

namespace {

// A real shell (the `; echo` keeps busybox from exec'ing sleep in its place) that has no SIGTERM
// handler: as PID 1 it ignores SIGTERM.
const char* shell_sleeping = "sh -c 'sleep 1000; echo never'";

double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

pid_t pid_of(lab& l, const std::string& name) {
    auto st = l.status(name);
    return st.is_null() || st["pid"].is_null() ? 0 : st["pid"].get<pid_t>();
}

// Field 3 of /proc/PID/stat, after the parenthesised comm: R, S, Z ...
char state_of(pid_t pid) {
    auto stat = read_text(fmt::format("/proc/{}/stat", pid));
    auto close = stat.rfind(')');
    return close == std::string::npos || close + 2 >= stat.size() ? '?' : stat[close + 2];
}

int zombies_in(const std::string& ns) {
    auto pids = processes_in_pid_ns(ns);
    return static_cast<int>(
        std::count_if(pids.begin(), pids.end(), [](pid_t p) { return state_of(p) == 'Z'; }));
}

std::vector<std::string> fds_of(pid_t pid) {
    std::vector<std::string> fds;
    for (auto& e : fs::directory_iterator(fmt::format("/proc/{}/fd", pid)))
        fds.push_back(e.path().filename().string());
    std::sort(fds.begin(), fds.end());
    return fds;
}

std::vector<pid_t> children_of(pid_t pid) {
    std::istringstream in(read_text(fmt::format("/proc/{}/task/{}/children", pid, pid)));
    std::vector<pid_t> out;
    for (pid_t child; in >> child;)
        out.push_back(child);
    return out;
}

} // namespace

TEST_CASE("init = true stops a shell container at once; without it the shell waits out the grace") {
    CTR_REQUIRE_ROOT();
    lab l(fmt::format("[container with-init]\nrootfs = @ROOTFS@\ncommand = {0}\ninit = true\n"
                      "stop_timeout = 10s\n\n"
                      "[container without]\nrootfs = @ROOTFS@\ncommand = {0}\nstop_timeout = 2s\n",
                      shell_sleeping));
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"with-init", "without"}));
    // The shell has started its sleep, so the stop meets the state this test is about.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    pid_t pid = pid_of(l, "with-init");
    REQUIRE(pid > 0);
    auto ns = ns_of(pid, "pid");
    REQUIRE_FALSE(ns.empty());

    auto t = clock_type::now();
    REQUIRE(l.ctl({"stop", "with-init"}).code == 0);
    double took = seconds_since(t);
    MESSAGE(fmt::format("stop with init = true took {:.3f} s (grace 10 s)", took));
    CHECK(took < 2.0);
    auto st = l.status("with-init");
    CHECK(st["state"] == "stopped");
    CHECK(st["exit_code"] == 128 + SIGTERM); // the shell's death by SIGTERM, passed on by ctr-init
    CHECK(processes_in_pid_ns(ns).empty());

    t = clock_type::now();
    REQUIRE(l.ctl({"stop", "without"}).code == 0);
    took = seconds_since(t);
    MESSAGE(fmt::format("stop without init took {:.3f} s (grace 2 s)", took));
    CHECK(took >= 1.9);
    CHECK(l.status("without")["signal"] == "SIGKILL");
}

TEST_CASE("init = true passes other signals on: kill --signal USR1 ends the command") {
    CTR_REQUIRE_ROOT();
    lab l("[container svc]\nrootfs = @ROOTFS@\ncommand = sleep 1000\ninit = true\n");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"svc"}));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    REQUIRE(l.ctl({"kill", "svc", "--signal", "USR1"}).code == 0);
    REQUIRE(l.wait_state("exited", {"svc"}, std::chrono::seconds(5)));
    CHECK(l.status("svc")["exit_code"] == 128 + SIGUSR1);
}

TEST_CASE("init = true reaps orphans that a command which never waits leaves as zombies") {
    CTR_REQUIRE_ROOT();
    // The subshell's background sleep is orphaned to PID 1; then the shell becomes a sleep,
    // which never calls wait.
    const char* orphaning = "sh -c '(sleep 0.1 &); exec sleep 1000'";
    lab l(fmt::format("[container with-init]\nrootfs = @ROOTFS@\ncommand = {0}\ninit = true\n\n"
                      "[container without]\nrootfs = @ROOTFS@\ncommand = {0}\n",
                      orphaning),
          "stop_timeout = 200ms");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"with-init", "without"}));
    auto with_init = ns_of(pid_of(l, "with-init"), "pid");
    auto without = ns_of(pid_of(l, "without"), "pid");
    REQUIRE_FALSE(with_init.empty());
    REQUIRE_FALSE(without.empty());
    // The orphans' sleep 0.1 ends: a zombie under a PID 1 that does not reap, gone under one
    // that does, which leaves ctr-init and the command's sleep.
    auto settled = [&] {
        return zombies_in(without) == 1 && processes_in_pid_ns(with_init).size() == 2;
    };
    auto deadline = clock_type::now() + std::chrono::seconds(5);
    while (!settled() && clock_type::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(zombies_in(without) == 1);
    CHECK(zombies_in(with_init) == 0);
    CHECK(processes_in_pid_ns(with_init).size() == 2);
}

TEST_CASE("init = true passes the exit code and exec errors through") {
    CTR_REQUIRE_ROOT();
    lab l("[container seven]\nrootfs = @ROOTFS@\ncommand = sh -c 'exit 7'\ninit = true\n\n"
          "[container missing]\nrootfs = @ROOTFS@\ncommand = /bin/nosuch\ninit = true\n\n"
          "[container notexec]\nrootfs = @ROOTFS@\ncommand = /etc/passwd\ninit = true\n\n"
          "[container unknown]\nrootfs = @ROOTFS@\ncommand = nosuch-tool --flag\ninit = true\n");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("exited", {"seven"}));
    CHECK(l.status("seven")["exit_code"] == 7);
    CHECK(l.status("seven")["error"].is_null());

    REQUIRE(l.wait_state("failed", {"missing", "notexec", "unknown"}));
    auto missing = l.status("missing");
    CHECK(missing["error"] == "exec \"/bin/nosuch\": No such file or directory");
    CHECK(missing["exit_code"] == 127);
    auto notexec = l.status("notexec");
    CHECK(notexec["error"] == "exec \"/etc/passwd\": Permission denied");
    CHECK(notexec["exit_code"] == 126);
    CHECK(l.status("unknown")["error"] == "exec \"nosuch-tool\": No such file or directory");
}

TEST_CASE("init = true: PID 1 is ctr-init from a sealed memfd that the container cannot write") {
    CTR_REQUIRE_ROOT();
    auto binary = build_dir() / "ctr-init";
    auto before = read_text(binary);
    REQUIRE_FALSE(before.empty());
    // `true`, not `:`: a failed redirection of a special built-in ends a POSIX shell.
    lab l("[container probe]\nrootfs = @ROOTFS@\ninit = true\n"
          "command = sh -c 'cat /proc/1/comm > /out; readlink /proc/1/exe >> /out; "
          "{ echo x >> /proc/1/exe && echo written || echo refused; } >> /out 2>/dev/null; "
          "{ true > /proc/1/exe && echo truncated || echo refused; } >> /out 2>/dev/null; "
          "echo $$ >> /out; sleep 1000'\n",
          "stop_timeout = 200ms");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"probe"}));
    auto out = wait_for_file(l.upper("probe") / "out", 5);
    CAPTURE(out);
    CHECK(out == "ctr-init\n/memfd:ctr-init (deleted)\nrefused\nrefused\n2\n");
    // The host sees the same: its PID 1 runs no file of the host's.
    pid_t pid = pid_of(l, "probe");
    REQUIRE(pid > 0);
    std::error_code ec;
    CHECK(fs::read_symlink(fmt::format("/proc/{}/exe", pid), ec).string() ==
          "/memfd:ctr-init (deleted)");
    CHECK(read_text(binary) == before);
}

TEST_CASE("init = true: ctr-init and the command hold only fds 0, 1, 2 and the command's signal "
          "mask is empty") {
    CTR_REQUIRE_ROOT();
    lab l("[container quiet]\nrootfs = @ROOTFS@\ncommand = sleep 1000\ninit = true\n",
          "stop_timeout = 200ms");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"quiet"}));
    pid_t init = pid_of(l, "quiet");
    REQUIRE(init > 0);
    auto children = children_of(init);
    REQUIRE(children.size() == 1);
    pid_t command = children[0];
    CHECK(read_text(fmt::format("/proc/{}/comm", command)) == "sleep\n");
    CHECK(fds_of(init) == std::vector<std::string>{"0", "1", "2"});
    CHECK(fds_of(command) == std::vector<std::string>{"0", "1", "2"});
    auto status = read_text(fmt::format("/proc/{}/status", command));
    CHECK(status.find("SigBlk:\t0000000000000000") != std::string::npos);
    CHECK(status.find("SigIgn:\t0000000000000000") != std::string::npos);
}

TEST_CASE("init = true without ctr-init beside the supervisor fails that container's start") {
    CTR_REQUIRE_ROOT();
    // A copy of the supervisor alone in a folder of its own.
    lab l("[container lonely]\nrootfs = @ROOTFS@\ncommand = sleep 1000\ninit = true\n\n"
          "[container fine]\nrootfs = @ROOTFS@\ncommand = sleep 1000\n",
          "stop_timeout = 200ms");
    auto alone = l.dir / "bin";
    fs::create_directories(alone);
    l.binary = alone / "ctr-supervisor";
    fs::copy_file(build_dir() / "ctr-supervisor", l.binary);
    REQUIRE(l.start());
    REQUIRE(l.wait_state("failed", {"lonely"}));
    REQUIRE(l.wait_state("running", {"fine"}));
    auto error = l.status("lonely")["error"].get<std::string>();
    CHECK(error == fmt::format("init = true needs ctr-init beside the supervisor: open(\"{}\"): No "
                               "such file or directory",
                               (alone / "ctr-init").string()));
    auto start = l.ctl({"start", "lonely"});
    CHECK(start.code == 1);
    CHECK(start.err.find("needs ctr-init") != std::string::npos);
}
