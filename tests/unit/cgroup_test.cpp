// The cgroup module without root: probing from mountinfo text and a fake tree in a temp dir,
// knob parsing, the settings limits become, and the drivers and tree acting on plain folders.
#include "common/temp_dir.hpp"
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <stdlib.h>
#include <string>
#include <unistd.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "ctr/cgroup/driver.hpp"
#include "ctr/cgroup/files.hpp"
#include "ctr/cgroup/probe.hpp"
#include "ctr/cgroup/tree.hpp"
#include "ctr/core/error.hpp"

using ctr::test::temp_dir;

namespace fs = std::filesystem;
using namespace ctr::cgroup;

namespace {

void put(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
}

std::string text_of(const fs::path& file) {
    std::ifstream in(file);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// This host's kind: v1 controllers, an empty cgroup2 beside them (Debian 10, hybrid systemd).
std::string hybrid_mountinfo(const fs::path& base) {
    auto b = base.string();
    return fmt::format("22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n"
                       "30 22 0:26 / {0} rw,nosuid - tmpfs tmpfs rw,mode=755\n"
                       "31 30 0:27 / {0}/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
                       "32 30 0:28 / {0}/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd\n"
                       "33 30 0:29 / {0}/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n"
                       "34 30 0:30 / {0}/memory rw,nosuid - cgroup cgroup rw,memory\n"
                       "35 30 0:31 / {0}/pids rw,nosuid - cgroup cgroup rw,pids\n"
                       "36 30 0:32 / {0}/freezer rw,nosuid - cgroup cgroup rw,freezer\n"
                       "37 30 0:33 / {0}/devices rw,nosuid - cgroup cgroup rw,devices\n",
                       b);
}

std::string pure_v2_mountinfo(const fs::path& base) {
    return fmt::format("22 1 0:21 / /sys rw - sysfs sysfs rw\n"
                       "30 22 0:26 / {} rw,nosuid,nodev shared:4 - cgroup2 cgroup2 "
                       "rw,nsdelegate,memory_recursiveprot\n",
                       base.string());
}

} // namespace

TEST_CASE("cgroup: mountinfo yields cgroup mounts with their v1 controllers") {
    auto mounts = parse_mountinfo(hybrid_mountinfo("/sys/fs/cgroup"));
    REQUIRE(mounts.size() == 7);
    CHECK(mounts[0].point == "/sys/fs/cgroup/unified");
    CHECK(mounts[0].v2);
    CHECK(mounts[0].controllers.empty());
    CHECK(mounts[1].point == "/sys/fs/cgroup/systemd");
    CHECK(mounts[1].controllers.empty()); // name=systemd is no controller of ours
    CHECK(mounts[2].point == "/sys/fs/cgroup/cpu,cpuacct");
    CHECK(mounts[2].controllers == std::vector<std::string>{"cpu", "cpuacct"});
    CHECK(mounts[3].controllers == std::vector<std::string>{"memory"});
    CHECK(mounts[6].controllers.empty()); // devices is not used
    CHECK(mounts[3].root == "/");
}

TEST_CASE("cgroup: mountinfo escapes and odd lines") {
    auto mounts = parse_mountinfo("40 30 0:40 /sub /mnt/with\\040space rw - cgroup cgroup rw,pids\n"
                                  "garbage\n"
                                  "41 30 0:41 / /x rw - cgroup2\n" // too few fields after '-'
                                  "\n"
                                  "42 30 0:42 / /y rw opt:1 opt:2 - cgroup2 none rw\n");
    REQUIRE(mounts.size() == 2);
    CHECK(mounts[0].point == "/mnt/with space");
    CHECK(mounts[0].root == "/sub");
    CHECK(mounts[1].point == "/y");
    CHECK(mounts[1].v2);
}

TEST_CASE("cgroup: a hybrid host whose cgroup2 has no controllers uses v1") {
    temp_dir t;
    put(t.path / "unified/cgroup.controllers", "\n");
    auto l = probe(hybrid_mountinfo(t.path));
    CHECK(l.ver == version::v1);
    REQUIRE(l.hierarchies.size() == 4);
    REQUIRE(l.find("memory"));
    CHECK(l.find("memory")->dir == t.path / "memory");
    CHECK(l.find("cpu") == l.find("cpuacct"));
    CHECK(l.find("cpu")->dir == t.path / "cpu,cpuacct");
    CHECK(l.find("freezer")->dir == t.path / "freezer");
    CHECK(l.find("pids")->dir == t.path / "pids");
    CHECK(!l.find("devices"));
}

TEST_CASE("cgroup: a pure v2 host uses v2 with the controllers its root lists") {
    temp_dir t;
    put(t.path / "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    auto l = probe(pure_v2_mountinfo(t.path));
    CHECK(l.ver == version::v2);
    REQUIRE(l.hierarchies.size() == 1);
    CHECK(l.hierarchies[0].dir == t.path);
    CHECK(l.hierarchies[0].controllers == std::vector<std::string>{"cpu", "memory", "pids"});
    CHECK(l.find("memory") == &l.hierarchies[0]);
    CHECK(!l.find("freezer")); // v2 freezes through cgroup.freeze
}

TEST_CASE("cgroup: v1 wins wherever it holds an essential controller") {
    mount v2{"/sys/fs/cgroup/unified", "/", true, {"cpu", "pids"}};
    mount memory{"/sys/fs/cgroup/memory", "/", false, {"memory"}};
    mount freezer{"/sys/fs/cgroup/freezer", "/", false, {"freezer"}};
    CHECK(choose({v2, memory}).ver == version::v1);
    CHECK(choose({v2, freezer}).ver == version::v2); // freezer alone is not worth v1
    CHECK(choose({v2}).ver == version::v2);
    // A second mount of the same v1 hierarchy is not a second hierarchy.
    mount again{"/elsewhere/memory", "/", false, {"memory"}};
    auto l = choose({memory, again});
    REQUIRE(l.hierarchies.size() == 1);
    CHECK(l.hierarchies[0].dir == "/sys/fs/cgroup/memory");
}

TEST_CASE("cgroup: no cgroup mounted at all is an empty v1 layout") {
    auto l = probe("22 1 0:21 / /sys rw - sysfs sysfs rw\n");
    CHECK(l.ver == version::v1);
    CHECK(l.hierarchies.empty());
    temp_dir t; // a cgroup2 mount whose cgroup.controllers is missing offers nothing
    CHECK(probe(pure_v2_mountinfo(t.path)).ver == version::v1);
}

TEST_CASE("cgroup: /proc/PID/cgroup lines") {
    auto m = parse_proc_cgroup("12:pids:/ctr-supervisor/ab/web\n"
                               "4:cpu,cpuacct:/\n"
                               "1:name=systemd:/init.scope\n"
                               "0::/user.slice\n"
                               "bad line\n");
    REQUIRE(m.size() == 4);
    CHECK(m[0].id == 12);
    CHECK(m[0].controllers == std::vector<std::string>{"pids"});
    CHECK(m[0].path == "/ctr-supervisor/ab/web");
    CHECK(m[1].controllers == std::vector<std::string>{"cpu", "cpuacct"});
    CHECK(m[3].id == 0);
    CHECK(m[3].controllers.empty());
    CHECK(m[3].path == "/user.slice");
}

TEST_CASE("cgroup: knob parsing") {
    CHECK(parse_number("123\n") == 123u);
    CHECK(!parse_number("max\n"));
    CHECK(!parse_number(""));
    CHECK(!parse_number("12 34"));
    std::string events = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
    CHECK(parse_keyed(events, "oom_kill") == 2u);
    CHECK(parse_keyed(events, "oom") == 3u);
    CHECK(parse_keyed(events, "max") == 12u);
    CHECK(!parse_keyed(events, "oom_k"));
    CHECK(parse_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n", "oom_kill") == 1u);
    CHECK(!parse_keyed("oom_kill_disable 0\nunder_oom 0\n", "oom_kill"));
    CHECK(parse_keyed("usage_usec 1500000\nuser_usec 1000000", "usage_usec") == 1500000u);
    CHECK(parse_pids("1\n23\n\n456\nx\n-3\n") == std::vector<pid_t>{1, 23, 456});
}

TEST_CASE("cgroup: limits become knob writes per version") {
    limits l{64ull << 20, 64, 50'000};
    auto v2 = settings_for(version::v2, l);
    REQUIRE(v2.size() == 4);
    CHECK(v2[0].file == "memory.max");
    CHECK(v2[0].value == "67108864");
    CHECK(v2[1].file == "memory.swap.max");
    CHECK(v2[1].value == "0");
    CHECK(v2[1].optional);
    CHECK(v2[2].file == "pids.max");
    CHECK(v2[2].value == "64");
    CHECK(v2[3].controller == "cpu");
    CHECK(v2[3].file == "cpu.max");
    CHECK(v2[3].value == "50000 100000");

    auto v1 = settings_for(version::v1, l);
    REQUIRE(v1.size() == 5);
    // memsw must not go below the memory limit: memory first.
    CHECK(v1[0].file == "memory.limit_in_bytes");
    CHECK(v1[1].file == "memory.memsw.limit_in_bytes");
    CHECK(v1[1].value == "67108864");
    CHECK(v1[1].optional);
    CHECK(v1[2].file == "pids.max");
    CHECK(v1[3].file == "cpu.cfs_period_us");
    CHECK(v1[3].value == "100000");
    CHECK(v1[4].file == "cpu.cfs_quota_us");
    CHECK(v1[4].value == "50000");

    CHECK(settings_for(version::v1, {}).empty());
    CHECK(settings_for(version::v2, limits{std::nullopt, std::nullopt, 200'000})[0].value ==
          "200000 100000");
}

TEST_CASE("cgroup: the parent folder is a stable hash of the state dir") {
    auto a = parent_for("/run/ctr-supervisor");
    CHECK(a.parent_path() == "ctr-supervisor");
    CHECK(a.filename().string().size() == 16);
    CHECK(parent_for("/run/ctr-supervisor/") == a);
    CHECK(parent_for("/run/./ctr-supervisor") == a);
    CHECK(parent_for("/run/ctr-supervisor2") != a);
    // FNV-1a of the path: the same in every build, so a later run finds a dead run's folders.
    CHECK(parent_for("/") == fs::path("ctr-supervisor/af63a24c860189fe"));
}

namespace {

// A v1 layout of plain folders: memory, pids, cpu+cpuacct and freezer hierarchies.
layout fake_v1(const fs::path& base) {
    layout l;
    l.ver = version::v1;
    l.hierarchies = {{base / "memory", "/", {"memory"}},
                     {base / "pids", "/", {"pids"}},
                     {base / "cpu,cpuacct", "/", {"cpu", "cpuacct"}},
                     {base / "freezer", "/", {"freezer"}}};
    for (const auto& h : l.hierarchies)
        fs::create_directories(h.dir);
    return l;
}

// The knobs the kernel would make in a new v1 folder, as far as the tests touch them.
void fake_v1_knobs(const fs::path& base, const fs::path& rel) {
    for (auto f : {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.usage_in_bytes",
                   "memory.max_usage_in_bytes", "memory.oom_control", "cgroup.procs"})
        put(base / "memory" / rel / f, "");
    for (auto f : {"pids.max", "pids.current", "cgroup.procs"})
        put(base / "pids" / rel / f, "");
    for (auto f : {"cpu.cfs_period_us", "cpu.cfs_quota_us", "cpuacct.usage", "cgroup.procs"})
        put(base / "cpu,cpuacct" / rel / f, "");
    for (auto f : {"freezer.state", "cgroup.procs"})
        put(base / "freezer" / rel / f, "");
}

void remove_files(const fs::path& dir) {
    for (auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file()) fs::remove(e.path());
}

} // namespace

TEST_CASE("cgroup: the v1 driver on a fake tree") {
    temp_dir t;
    auto d = make_driver(fake_v1(t.path));
    fs::path parent = "ctr-supervisor/0123456789abcdef";
    d->make_parent(parent);
    d->make_parent(parent); // again: already there is fine
    CHECK(fs::is_directory(t.path / "memory" / parent));
    CHECK(fs::is_directory(t.path / "cpu,cpuacct" / parent));

    auto rel = parent / "web";
    d->make_leaf(rel);
    CHECK_THROWS_WITH_AS(
        d->make_leaf(rel),
        doctest::Contains(fmt::format("mkdir(\"{}\")", (t.path / "memory" / rel).string()).c_str()),
        std::system_error);
    REQUIRE(d->dirs(rel).size() == 4);
    fake_v1_knobs(t.path, rel);

    d->apply(rel, limits{32ull << 20, 64, 20'000});
    CHECK(text_of(t.path / "memory" / rel / "memory.limit_in_bytes") == "33554432");
    CHECK(text_of(t.path / "memory" / rel / "memory.memsw.limit_in_bytes") == "33554432");
    CHECK(text_of(t.path / "pids" / rel / "pids.max") == "64");
    CHECK(text_of(t.path / "cpu,cpuacct" / rel / "cpu.cfs_period_us") == "100000");
    CHECK(text_of(t.path / "cpu,cpuacct" / rel / "cpu.cfs_quota_us") == "20000");

    // Without swap accounting the memsw knob is missing: skipped, not an error.
    fs::remove(t.path / "memory" / rel / "memory.memsw.limit_in_bytes");
    CHECK_NOTHROW(d->apply(rel, limits{64ull << 20, {}, {}}));
    // A missing knob that is not optional is an error naming it.
    fs::remove(t.path / "pids" / rel / "pids.max");
    CHECK_THROWS_WITH_AS(d->apply(rel, limits{{}, 10, {}}),
                         doctest::Contains((t.path / "pids" / rel / "pids.max").c_str()),
                         std::system_error);

    d->place(rel, 4242);
    for (const auto& dir : d->dirs(rel))
        CHECK(text_of(dir / "cgroup.procs") == "4242");

    put(t.path / "memory" / rel / "memory.usage_in_bytes", "1048576\n");
    put(t.path / "memory" / rel / "memory.max_usage_in_bytes", "2097152\n");
    put(t.path / "pids" / rel / "pids.current", "3\n");
    put(t.path / "cpu,cpuacct" / rel / "cpuacct.usage", "1500000000\n");
    auto s = d->read_stats(rel);
    CHECK(s.memory == 1048576u);
    CHECK(s.memory_peak == 2097152u);
    CHECK(s.pids == 3u);
    CHECK(s.cpu_seconds == doctest::Approx(1.5));

    put(t.path / "memory" / rel / "memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    CHECK(d->oom_kills(rel) == 2);
    // Before 4.13 there is no oom_kill field: the failure count stands in.
    put(t.path / "memory" / rel / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n");
    put(t.path / "memory" / rel / "memory.failcnt", "7\n");
    CHECK(d->oom_kills(rel) == 7);

    // A listed pid that /proc does not place in this folder is never signalled: the fake lists
    // the test itself.
    for (const auto& dir : d->dirs(rel))
        put(dir / "cgroup.procs", fmt::format("{}\n", ::getpid()));
    CHECK(d->procs(rel) == std::vector<pid_t>{::getpid()});
    CHECK(d->kill_all(rel).empty());
    CHECK(text_of(t.path / "freezer" / rel / "freezer.state") == "THAWED");

    // Folders with files in them do not go (as a cgroup with processes would not): the errno
    // and the folder come back.
    fs::path failed;
    CHECK(d->remove(rel, &failed) == ENOTEMPTY);
    CHECK(failed == t.path / "memory" / rel);
    for (const auto& dir : d->dirs(rel))
        remove_files(dir);
    fs::create_directories(t.path / "pids" / rel / "inner" / "deeper");
    CHECK(d->remove(rel) == 0);
    for (const auto& dir : d->dirs(rel))
        CHECK(!fs::exists(dir));
    CHECK(d->remove(rel) == 0); // already gone
}

TEST_CASE("cgroup: a limit the host cannot enforce is refused by name") {
    temp_dir t;
    layout l;
    l.ver = version::v1;
    l.hierarchies = {{t.path / "pids", "/", {"pids"}}};
    fs::create_directories(t.path / "pids");
    auto d = make_driver(l);
    d->make_parent("p");
    d->make_leaf("p/web");
    CHECK_THROWS_WITH_AS(d->apply("p/web", limits{64ull << 20, {}, {}}),
                         "cannot enforce the memory limit: this host offers no memory controller "
                         "(cgroup v1)",
                         ctr::error);
    auto s = d->read_stats("p/web");
    CHECK(!s.memory);
    CHECK(!s.cpu_seconds);
    CHECK(d->oom_kills("p/web") == 0);
}

TEST_CASE("cgroup: the v2 driver enables controllers down to the parent") {
    temp_dir t;
    layout l;
    l.ver = version::v2;
    l.hierarchies = {{t.path, "/", {"cpu", "memory", "pids"}}};
    put(t.path / "cgroup.controllers", "cpuset cpu io memory pids\n");
    put(t.path / "cgroup.subtree_control", "cpu memory\n");
    auto d = make_driver(l);
    d->make_parent("ctr-supervisor/abc");
    // Only what was missing is written (a fake file keeps the last write).
    CHECK(text_of(t.path / "cgroup.subtree_control") == "+pids");
    CHECK(fs::is_directory(t.path / "ctr-supervisor/abc"));

    auto rel = fs::path("ctr-supervisor/abc/web");
    d->make_leaf(rel);
    for (auto f : {"memory.max", "memory.swap.max", "pids.max", "cpu.max"})
        put(t.path / rel / f, "max\n");
    d->apply(rel, limits{64ull << 20, 100, 50'000});
    CHECK(text_of(t.path / rel / "memory.max") == "67108864");
    CHECK(text_of(t.path / rel / "memory.swap.max") == "0");
    CHECK(text_of(t.path / rel / "pids.max") == "100");
    CHECK(text_of(t.path / rel / "cpu.max") == "50000 100000");

    put(t.path / rel / "memory.current", "4096\n");
    put(t.path / rel / "pids.current", "2\n");
    put(t.path / rel / "cpu.stat", "usage_usec 250000\nuser_usec 200000\nsystem_usec 50000\n");
    auto s = d->read_stats(rel);
    CHECK(s.memory == 4096u);
    CHECK(!s.memory_peak); // memory.peak arrived with 5.19
    CHECK(s.pids == 2u);
    CHECK(s.cpu_seconds == doctest::Approx(0.25));
    put(t.path / rel / "memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
    CHECK(d->oom_kills(rel) == 1);

    // cgroup.kill does the killing where the kernel has it.
    put(t.path / rel / "cgroup.procs", "");
    put(t.path / rel / "cgroup.kill", "");
    CHECK(d->kill_all(rel).empty());
    CHECK(text_of(t.path / rel / "cgroup.kill") == "1");
}

TEST_CASE("cgroup: a tree makes, re-makes and removes containers' folders") {
    temp_dir t;
    auto l = fake_v1(t.path);
    fs::path parent = "ctr-supervisor/0123456789abcdef";
    // What a killed run left: a container folder, empty of processes.
    fs::create_directories(t.path / "memory" / parent / "old");
    {
        tree tr(std::shared_ptr<driver>(make_driver(l)), parent);
        CHECK(tr.clean_leftovers() == 1);
        CHECK(!fs::exists(t.path / "memory" / parent / "old"));
        {
            auto g = tr.create("web", {});
            CHECK(g.path() == parent / "web");
            for (const auto& dir : g.dirs())
                CHECK(fs::is_directory(dir));
            CHECK(!g.oom_killed());
            g.remove();
            for (const auto& dir : g.dirs())
                CHECK(!fs::exists(dir));
        }
        {
            // Dropped without remove(): the destructor removes it.
            auto g = tr.create("web", {});
            auto moved = std::move(g);
            CHECK(fs::is_directory(t.path / "pids" / parent / "web"));
        }
        CHECK(!fs::exists(t.path / "pids" / parent / "web"));

        // A folder left by a failed removal is replaced.
        fs::create_directories(t.path / "freezer" / parent / "db");
        auto db = tr.create("db", {});
        CHECK(fs::is_directory(t.path / "memory" / parent / "db"));

        // A container named like a cgroup file cannot have a folder.
        put(t.path / "memory" / parent / "tasks", "");
        CHECK_THROWS_WITH_AS(tr.create("tasks", {}),
                             doctest::Contains("a cgroup file has that name"), ctr::error);
        fs::remove(t.path / "memory" / parent / "tasks");
        CHECK_THROWS_AS(tr.create("..", {}), ctr::error);
        CHECK_THROWS_AS(tr.create("a/b", {}), ctr::error);
    }
    // The tree's end removes the parent, and ctr-supervisor with it when nobody else uses it.
    for (auto h : {"memory", "pids", "cpu,cpuacct", "freezer"})
        CHECK(!fs::exists(t.path / h / "ctr-supervisor"));
}

TEST_CASE("cgroup: ctr-supervisor stays while another supervisor has its folder there") {
    temp_dir t;
    auto l = fake_v1(t.path);
    fs::create_directories(t.path / "memory/ctr-supervisor/other");
    { tree tr(std::shared_ptr<driver>(make_driver(l)), "ctr-supervisor/mine"); }
    CHECK(!fs::exists(t.path / "memory/ctr-supervisor/mine"));
    CHECK(fs::is_directory(t.path / "memory/ctr-supervisor/other"));
}
