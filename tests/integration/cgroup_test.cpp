// Cgroups per container, on whatever this host offers (v1 here, v2 elsewhere): limits in the
// kernel's files, a fork bomb and a memory hog contained, OOM kills reported, stats, the whole
// cgroup killed at stop, and no folder left behind.
#include "harness.hpp"
#include <algorithm>
#include <fcntl.h>
#include <fstream>
#include <signal.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ctr/cgroup/files.hpp"
#include "ctr/cgroup/probe.hpp"
#include "ctr/cgroup/tree.hpp"
#include "ctr/core/error.hpp"

using namespace ctr::test;
namespace cg = ctr::cgroup;
using clock_type = std::chrono::steady_clock;

namespace {

const char* idle = "sh -c 'trap \"exit 0\" TERM; sleep 1000 & wait'";

bool contains(const std::string& text, const std::string& what) {
    return text.find(what) != std::string::npos;
}

// Why cgroup tests cannot run here, or nothing.
std::optional<std::string> cgroup_blocker() {
    if (auto why = root_test_blocker()) return why;
    auto l = cg::probe_host();
    if (!l.find("memory") || !l.find("pids") || !l.find("cpu"))
        return "this host offers no memory, pids and cpu cgroup controllers";
    return std::nullopt;
}

#define CTR_REQUIRE_CGROUPS()                                                                      \
    do {                                                                                           \
        if (auto why = cgroup_blocker()) {                                                         \
            MESSAGE("skipped: " << *why);                                                          \
            return;                                                                                \
        }                                                                                          \
    } while (0)

// The lab's folder for `name` (or the lab's parent, for "") in each hierarchy used.
std::vector<fs::path> cgroup_dirs(const lab& l, const std::string& name = "") {
    auto layout = cg::probe_host();
    auto rel = cg::parent_for(l.state_dir);
    if (!name.empty()) rel /= name;
    std::vector<fs::path> out;
    for (const auto& h : layout.hierarchies)
        out.push_back(h.dir / rel);
    return out;
}

fs::path dir_of(const lab& l, const std::string& name, const char* controller) {
    auto layout = cg::probe_host();
    const auto* h = layout.find(controller);
    REQUIRE(h);
    return h->dir / cg::parent_for(l.state_dir) / name;
}

std::string knob(const fs::path& file) {
    auto text = read_text(file);
    while (!text.empty() && text.back() == '\n')
        text.pop_back();
    return text;
}

std::vector<pid_t> procs_of(const lab& l, const std::string& name) {
    std::vector<pid_t> out;
    for (const auto& dir : cgroup_dirs(l, name))
        for (pid_t pid : cg::parse_pids(read_text(dir / "cgroup.procs")))
            if (std::find(out.begin(), out.end(), pid) == out.end()) out.push_back(pid);
    return out;
}

bool none_exists(const std::vector<fs::path>& dirs) {
    return std::none_of(dirs.begin(), dirs.end(), [](const fs::path& d) { return fs::exists(d); });
}

template <typename Pred> bool eventually(Pred done, std::chrono::milliseconds limit = 10s) {
    auto deadline = clock_type::now() + limit;
    while (!done()) {
        if (clock_type::now() > deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

bool alive(pid_t pid) {
    return ::kill(pid, 0) == 0 || errno != ESRCH;
}

} // namespace

TEST_CASE("cgroup: limits reach the kernel's files before the command runs; stats reads them; "
          "nothing is left after shutdown") {
    CTR_REQUIRE_CGROUPS();
    lab l(fmt::format("[container web]\nrootfs = @ROOTFS@\n"
                      "command = sh -c 'cat /proc/1/cgroup > /first-cgroup; trap \"exit 0\" TERM; "
                      "sleep 1000 & wait'\n"
                      "memory = 64M\npids = 100\ncpu = 0.2\n\n"
                      "[container plain]\nrootfs = @ROOTFS@\ncommand = {}\n",
                      idle));
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    auto web = cgroup_dirs(l, "web");
    REQUIRE(!web.empty());
    for (const auto& d : web)
        CHECK(fs::is_directory(d));
    for (const auto& d : cgroup_dirs(l, "plain"))
        CHECK(fs::is_directory(d));

    auto memory = dir_of(l, "web", "memory");
    auto pids = dir_of(l, "web", "pids");
    auto cpu = dir_of(l, "web", "cpu");
    if (cg::probe_host().ver == cg::version::v2) {
        CHECK(knob(memory / "memory.max") == "67108864");
        if (fs::exists(memory / "memory.swap.max")) CHECK(knob(memory / "memory.swap.max") == "0");
        CHECK(knob(cpu / "cpu.max") == "20000 100000");
    } else {
        CHECK(knob(memory / "memory.limit_in_bytes") == "67108864");
        if (fs::exists(memory / "memory.memsw.limit_in_bytes"))
            CHECK(knob(memory / "memory.memsw.limit_in_bytes") == "67108864");
        CHECK(knob(cpu / "cpu.cfs_period_us") == "100000");
        CHECK(knob(cpu / "cpu.cfs_quota_us") == "20000");
    }
    CHECK(knob(pids / "pids.max") == "100");
    // No limit set: the kernel's defaults stay.
    CHECK(knob(dir_of(l, "plain", "pids") / "pids.max") == "max");

    // Its PID 1 is in the cgroup in every hierarchy, and already was at its first command.
    auto pid = l.status("web")["pid"].get<pid_t>();
    for (const auto& d : web) {
        CAPTURE(d);
        auto listed = cg::parse_pids(read_text(d / "cgroup.procs"));
        CHECK(std::find(listed.begin(), listed.end(), pid) != listed.end());
    }
    // Its cgroup namespace was made once it was in its cgroup, before its command ran: inside, as
    // in Docker, each hierarchy shows the container's own cgroup as "/", not the host's path.
    auto first = wait_for_file(l.upper("web") / "first-cgroup", 3);
    CAPTURE(first);
    auto lines = cg::parse_proc_cgroup(first);
    CHECK(!lines.empty());
    for (const auto& m : lines)
        CHECK(m.path == "/");

    auto stats = l.ctl({"stats", "--json"});
    REQUIRE(stats.code == 0);
    auto list = nlohmann::json::parse(stats.out);
    REQUIRE(list.size() == 2);
    for (auto& s : list) {
        CAPTURE(s.dump());
        CHECK(s["memory"].get<std::uint64_t>() > 0);
        CHECK(s["memory_peak"].get<std::uint64_t>() >= s["memory"].get<std::uint64_t>());
        CHECK(s["pids"].get<std::uint64_t>() >= 2); // sh and its sleep
        CHECK(s["cpu_seconds"].get<double>() >= 0);
    }
    auto table = l.ctl({"stats", "web"});
    CAPTURE(table.out);
    REQUIRE(table.code == 0);
    CHECK(table.out.starts_with("NAME  MEM"));
    CHECK(contains(table.out, "CPU(s)"));
    CHECK(contains(table.out, "\nweb "));
    CHECK(!contains(table.out, "\nplain "));
    auto nosuch = l.ctl({"stats", "nosuch"});
    CHECK(nosuch.code == 1);
    CHECK(contains(nosuch.err, "no container named 'nosuch'"));

    // A stopped container has no cgroup: stats names it as not running, and lists it no more.
    REQUIRE(l.ctl({"stop", "plain"}).code == 0);
    CHECK(none_exists(cgroup_dirs(l, "plain")));
    auto stopped = l.ctl({"stats", "plain"});
    CHECK(stopped.code == 1);
    CHECK(contains(stopped.err, "container plain is not running"));
    auto after = nlohmann::json::parse(l.ctl({"stats", "--json"}).out);
    REQUIRE(after.size() == 1);
    CHECK(after[0]["name"] == "web");

    CHECK(l.stop() == 0);
    CHECK(none_exists(cgroup_dirs(l)));
    CHECK(contains(l.log(),
                   fmt::format("containers under {}", cg::parent_for(l.state_dir).string())));
}

TEST_CASE("cgroup: a fork bomb with pids = 64 is contained; the supervisor and its neighbour "
          "carry on") {
    CTR_REQUIRE_CGROUPS();
    // Its PID 1 becomes a sleep that never reaps: the bomb's dead fill the table too. The bomb
    // starts in a subshell: a shell whose fork fails exits, and PID 1 forking the pipeline's
    // second half itself would race the first half's descendants for the last slots.
    lab l(fmt::format("[container bomb]\nrootfs = @ROOTFS@\n"
                      "command = sh -c '(f(){{ f|f& }}; f); exec sleep 1000'\npids = 64\n\n"
                      "[container neighbour]\nrootfs = @ROOTFS@\ncommand = {}\n",
                      idle));
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    auto neighbour = l.status("neighbour")["pid"];
    auto pids = dir_of(l, "bomb", "pids");
    // The limit is hit (fork refused) and never passed.
    CHECK(eventually([&] {
        auto events = read_text(pids / "pids.events");
        auto refused = cg::parse_keyed(events, "max");
        return refused && *refused > 0;
    }));
    for (int i = 0; i < 10; ++i) {
        auto current = cg::parse_number(read_text(pids / "pids.current"));
        REQUIRE(current);
        CHECK(*current <= 64);
        // The supervisor answers at once, and the neighbour runs on, the same process.
        auto t = clock_type::now();
        auto ps = l.ps();
        CHECK(clock_type::now() - t < 2s);
        for (auto& c : ps)
            if (c["name"] == "neighbour") {
                CHECK(c["state"] == "running");
                CHECK(c["pid"] == neighbour);
            }
        std::this_thread::sleep_for(100ms);
    }
    auto stats = nlohmann::json::parse(l.ctl({"stats", "bomb", "--json"}).out);
    CHECK(stats[0]["pids"].get<int>() <= 64);

    // PID 1 (a sleep) ignores SIGTERM: after the grace, the whole cgroup is killed.
    auto t = clock_type::now();
    REQUIRE(l.ctl({"stop", "bomb"}).code == 0);
    CHECK(clock_type::now() - t < 5s);
    CHECK(contains(l.log(), "[bomb] did not stop within 1000 ms of SIGTERM: sending SIGKILL to "
                            "every process in its cgroup"));
    CHECK(none_exists(cgroup_dirs(l, "bomb")));
    CHECK(l.status("neighbour")["state"] == "running");
    CHECK(l.stop() == 0);
    CHECK(none_exists(cgroup_dirs(l)));
}

TEST_CASE("cgroup: a memory hog over memory = 32M is OOM-killed, reported so, and restarted by "
          "its policy") {
    CTR_REQUIRE_CGROUPS();
    lab l(fmt::format("[container hog]\nrootfs = @ROOTFS@\n"
                      "command = sh -c 'x=a; while true; do x=$x$x; done'\n"
                      "memory = 32M\nrestart = on-failure\n\n"
                      "[container victim]\nrootfs = @ROOTFS@\ncommand = {}\n",
                      idle));
    REQUIRE(l.start());
    nlohmann::json hog;
    CHECK(eventually(
        [&] {
            hog = l.status("hog");
            return hog["restarts"].get<int>() >= 1 && !hog["signal"].is_null();
        },
        20s));
    CAPTURE(hog.dump());
    CHECK(hog["signal"] == "SIGKILL");
    CHECK(hog["reason"] == "oom-killed");
    CHECK(contains(l.log(), "[hog] killed by SIGKILL (oom-killed) after"));
    auto table = l.ctl({"ps"}).out;
    CAPTURE(table);
    CHECK(contains(table, "SIGKILL (oom-killed)"));

    // A SIGKILL that is not the OOM killer's has no reason.
    REQUIRE(l.wait_state("running", {"victim"}));
    REQUIRE(l.ctl({"kill", "victim"}).code == 0);
    REQUIRE(l.wait_state("exited", {"victim"}));
    auto victim = l.status("victim");
    CHECK(victim["signal"] == "SIGKILL");
    CHECK(victim["reason"].is_null());

    REQUIRE(l.ctl({"stop", "hog"}).code == 0);
    CHECK(l.stop() == 0);
    CHECK(none_exists(cgroup_dirs(l)));
}

TEST_CASE("cgroup: stop kills a daemonised grandchild with the whole cgroup, then removes it") {
    CTR_REQUIRE_CGROUPS();
    lab l("[container daemon]\nrootfs = @ROOTFS@\n"
          "command = sh -c 'setsid sleep 1000 & exec sleep 1000'\n");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"daemon"}));
    std::vector<pid_t> inside;
    REQUIRE(eventually([&] {
        inside = procs_of(l, "daemon");
        return inside.size() == 2;
    }));
    auto dirs = cgroup_dirs(l, "daemon");

    REQUIRE(l.ctl({"stop", "daemon"}).code == 0);
    auto log = l.log();
    CAPTURE(log);
    CHECK(contains(log, "[daemon] did not stop within 1000 ms of SIGTERM: sending SIGKILL to every "
                        "process in its cgroup"));
    CHECK(contains(log, fmt::format("[daemon] SIGKILL to 2 process(es) of cgroup {}",
                                    (cg::parent_for(l.state_dir) / "daemon").string())));
    // The folder could only go empty (rmdir refuses a populated cgroup).
    CHECK(contains(log, "[daemon] cgroup "));
    CHECK(none_exists(dirs));
    for (pid_t pid : inside)
        CHECK_MESSAGE(!alive(pid), pid);
    CHECK(l.stop() == 0);
    CHECK(none_exists(cgroup_dirs(l)));
}

TEST_CASE("cgroup: the next run kills and removes what a SIGKILLed supervisor left in its "
          "cgroups") {
    CTR_REQUIRE_CGROUPS();
    lab l(fmt::format("[container web]\nrootfs = @ROOTFS@\ncommand = {}\n", idle));
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    auto web = cgroup_dirs(l, "web");
    CHECK(l.stop(SIGKILL) == 128 + SIGKILL);
    // Its container died with it (PDEATHSIG), its folders stayed.
    CHECK(eventually([&] { return procs_of(l, "web").empty(); }));
    for (const auto& d : web)
        CHECK(fs::is_directory(d));

    // A process in the leftover cgroup (as if one had escaped the pid namespace).
    pid_t stray = ::fork();
    if (stray == 0) {
        ::execl("/bin/sleep", "sleep", "1000", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    REQUIRE(stray > 0);
    for (const auto& d : web)
        std::ofstream(d / "cgroup.procs") << stray << "\n";
    auto listed = procs_of(l, "web");
    CAPTURE(fmt::format("{}", fmt::join(listed, " ")));
    CHECK(listed == std::vector<pid_t>{stray});

    std::string first = l.log();
    REQUIRE(l.start());
    auto second = l.log().substr(first.size());
    CAPTURE(second);
    CHECK(contains(second, "removed 1 cgroup(s) left by a previous run"));
    int status = 0;
    // Killed at start-up, so it is a zombie waiting for us by now.
    CHECK(::waitpid(stray, &status, WNOHANG) == stray);
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    if (alive(stray)) {
        ::kill(stray, SIGKILL);
        ::waitpid(stray, &status, 0);
    }
    REQUIRE(l.wait_state("running", {}));
    for (const auto& d : web)
        CHECK(fs::is_directory(d));
    CHECK(l.stop() == 0);
    CHECK(none_exists(cgroup_dirs(l)));
}

TEST_CASE("cgroup: the v2 driver places, kills and removes on this host's cgroup2 hierarchy") {
    CTR_REQUIRE_ROOT();
    // Even a cgroup2 hierarchy without controllers has cgroup.procs, cgroup.kill and rmdir, the
    // parts of the v2 driver that hosts with v1 controllers otherwise never run.
    std::optional<cg::mount> v2;
    for (const auto& m : cg::parse_mountinfo(read_text("/proc/self/mountinfo")))
        if (m.v2 && !v2) v2 = m;
    if (!v2) {
        MESSAGE("skipped: no cgroup2 hierarchy mounted");
        return;
    }
    cg::layout layout;
    layout.ver = cg::version::v2;
    layout.hierarchies = {{v2->point, v2->root, {}}};
    auto parent = cg::parent_for(fmt::format("/tmp/ctr-it-v2-{}", ::getpid()));
    {
        cg::tree t(std::shared_ptr<cg::driver>(cg::make_driver(layout)), parent);
        auto g = t.create("probe", {});
        REQUIRE(g.dirs().size() == 1);
        CHECK(fs::is_directory(g.dirs()[0]));

        // The child waits until it is in the cgroup, then makes two more processes there.
        int go[2];
        REQUIRE(::pipe2(go, O_CLOEXEC) == 0);
        pid_t child = ::fork();
        if (child == 0) {
            char c;
            if (::read(go[0], &c, 1) != 1) ::_exit(1);
            ::execl("/bin/sh", "sh", "-c", "sleep 1000 & sleep 1000 & wait",
                    static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(go[0]);
        g.place(child);
        REQUIRE(::write(go[1], "x", 1) == 1);
        ::close(go[1]);
        CHECK(eventually([&] { return g.procs().size() == 3; }));

        auto killed = g.kill_all();
        CHECK(killed.size() == 3);
        CHECK(cg::wait_exited(killed, 5000));
        int status = 0;
        REQUIRE(::waitpid(child, &status, 0) == child);
        CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
        CHECK(g.procs().empty());
        g.remove();
        CHECK(!fs::exists(g.dirs()[0]));

        // Limits need controllers this hierarchy may not offer; the error says which.
        if (!layout.find("memory"))
            CHECK_THROWS_WITH_AS(t.create("limited", cg::limits{64ull << 20, {}, {}}),
                                 "cannot enforce the memory limit: this host offers no memory "
                                 "controller (cgroup v2)",
                                 ctr::error);
    }
    CHECK(!fs::exists(v2->point / parent));
}
