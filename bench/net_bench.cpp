// net_bench: how fast ctr-supervisor brings N networked containers up and takes them down again,
// what it costs in memory, and the same work done with `crun run -d` plus `ip` commands beside
// it (issue 4, "Speed"). Run as root; see bench/README.md. Exit codes: 0 every run worked (the
// targets are reported, not enforced); 1 a run failed or left something behind; 2 usage;
// 128+N interrupted by signal N (after cleaning up).
#include "net_bench/host.hpp"
#include "net_bench/report.hpp"
#include "net_bench/workload.hpp"
#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <sys/utsname.h>
#include <thread>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace {

using namespace ctr::bench;
namespace fs = std::filesystem;

struct options {
    std::vector<int> containers{10, 50, 100};
    int repeat = 3;
    std::string tmpfs_dir; // default: /run when it is a tmpfs, else /dev/shm
    std::string disk_dir = "/tmp";
    int disk_containers = 0; // default: the largest of --containers; 0 with --no-disk
    bool no_disk = false;
    std::string workload; // default: pause when ctr-pause is beside us, else busybox
    bool no_busybox = false;
    bool no_crun = false;
    bool no_warmup = false;
    int settle_ms = 300;
    std::string supervisor;
    std::string rootfs;
    std::string log_level = "info";
    std::string keep_logs;
    std::string wrap;
    bool json = false;
    bool quick = false;
};

fs::path default_supervisor() {
    std::vector<fs::path> candidates{own_dir() / "ctr-supervisor"};
#ifdef CTR_BENCH_SUPERVISOR
    candidates.emplace_back(CTR_BENCH_SUPERVISOR);
#endif
    for (auto& c : candidates)
        if (::access(c.c_str(), X_OK) == 0) return c;
    throw std::runtime_error(
        fmt::format("no ctr-supervisor at {}: pass --supervisor", candidates.front().string()));
}

// Built beside net_bench on x86_64 only (bench/pause/pause.cpp).
fs::path pause_binary() {
    return own_dir() / "ctr-pause";
}

bool have_pause() {
    return ::access(pause_binary().c_str(), X_OK) == 0;
}

std::string host_line() {
    utsname u{};
    ::uname(&u);
    return fmt::format("{} CPUs, Linux {}", std::thread::hardware_concurrency(), u.release);
}

std::string load_average() {
    std::ifstream in("/proc/loadavg");
    std::string one, five;
    in >> one >> five;
    return fmt::format("{} (1 min), {} (5 min)", one, five);
}

// Other container work on the host competes for the same CPUs and kernel locks (RTNL, the
// cgroup and namespace locks): the figures are only comparable when there is none.
std::vector<std::string> busy_neighbours() {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/proc", ec)) {
        auto name = e.path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
        std::ifstream in(e.path() / "comm");
        std::string comm;
        std::getline(in, comm);
        for (const char* busy : {"ctr-supervisor", "ctr_integration", "ctr_unit_tests", "loadtest",
                                 "net_bench", "crun", "conmon", "cc1plus"})
            if (comm == busy && static_cast<pid_t>(std::stol(name)) != ::getpid())
                out.push_back(fmt::format("{} ({})", comm, name));
    }
    return out;
}

std::vector<std::string> split_words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;)
        out.push_back(w);
    return out;
}

void settle(const options& opt) {
    // Network namespaces die in a kernel worker after their last process: give the previous
    // run's teardown time not to be billed to the next run.
    std::this_thread::sleep_for(std::chrono::milliseconds(opt.settle_ms));
}

void progress(const options& opt, const std::string& line) {
    if (!opt.json) fmt::print(stderr, "{}\n", line);
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"Times ctr-supervisor starting N networked containers (to all running with "
                 "their network ready) and stopping them (to its exit with everything removed), "
                 "its RSS, and the same work done with crun run -d plus ip commands.",
                 "net_bench"};
    options opt;
    app.add_option("-n,--containers", opt.containers, "Numbers of containers, one bridge each")
        ->delimiter(',')
        ->capture_default_str()
        ->check(CLI::Range(1, 253));
    app.add_option("-r,--repeat", opt.repeat, "Runs per configuration (medians are shown)")
        ->capture_default_str()
        ->check(CLI::Range(1, 100));
    app.add_option("--tmpfs-dir", opt.tmpfs_dir,
                   "Where the state dir goes for the main runs (default: /run if it is a tmpfs, "
                   "else /dev/shm)");
    app.add_option("--disk-dir", opt.disk_dir, "Where the state dir goes for the disk run")
        ->capture_default_str();
    app.add_option("--disk-containers", opt.disk_containers,
                   "N of the disk run (default: the largest N)")
        ->check(CLI::Range(1, 253));
    app.add_flag("--no-disk", opt.no_disk, "Skip the run with the state dir on disk");
    app.add_option("--workload", opt.workload,
                   "What every container runs: pause (ctr-pause, beside net_bench, in a tiny "
                   "image made per invocation) or busybox (sh -c 'trap ...; sleep 1000 & wait' "
                   "on the busybox image); default pause when ctr-pause is there, else busybox")
        ->check(CLI::IsMember({"pause", "busybox"}));
    app.add_flag("--no-busybox", opt.no_busybox,
                 "Skip the busybox workload's run at the largest N (shown beside the main rows)");
    app.add_flag("--no-crun", opt.no_crun, "Skip the crun run -d + ip comparison");
    app.add_flag("--no-warmup", opt.no_warmup, "Skip the unreported first run (cold caches)");
    app.add_option("--settle", opt.settle_ms, "Milliseconds of pause between runs")
        ->capture_default_str()
        ->check(CLI::Range(0, 60000));
    app.add_option("--supervisor", opt.supervisor,
                   "ctr-supervisor to run (default: the one beside net_bench)");
    app.add_option("--rootfs", opt.rootfs,
                   "Busybox image of the busybox workload (default: assets/rootfs/busybox)");
    app.add_option("--log-level", opt.log_level, "ctr-supervisor's --log-level")
        ->capture_default_str();
    app.add_option(
        "--keep-logs", opt.keep_logs,
        "Keep each run's logs (the supervisor's, the containers') in a folder under this one");
    app.add_option("--wrap", opt.wrap,
                   "Run ctr-supervisor under this command, e.g. 'strace -f -c -o FILE' (its "
                   "timings then include the wrapper's overhead)");
    app.add_flag("--json", opt.json, "Print the report as JSON, every run included");
    app.add_flag("--quick", opt.quick,
                 "A smoke run (ctest's `bench` label): 5 containers once, on tmpfs, and once with "
                 "the busybox workload, no crun, no warm-up; exits 77 (skipped) unless run as "
                 "root with the busybox image built");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    // It must not rot, but ctest also runs where it cannot: there it says why and is skipped.
    constexpr int skipped = 77;
    if (opt.quick) {
        opt.containers = {5};
        opt.repeat = 1;
        opt.no_disk = opt.no_crun = opt.no_warmup = true;
        opt.settle_ms = 0;
    }
    if (::geteuid() != 0) {
        fmt::print(stderr, "net_bench: must run as root (namespaces, mounts, bridges)\n");
        return opt.quick ? skipped : 1;
    }
    if (opt.workload.empty()) opt.workload = have_pause() ? "pause" : "busybox";
    if (opt.workload == "pause" && !have_pause()) {
        fmt::print(stderr, "net_bench: --workload pause: no ctr-pause at {}\n",
                   pause_binary().string());
        return 2;
    }
    // The main rows are busybox's already: a row of their own would repeat the largest N.
    if (opt.workload == "busybox") opt.no_busybox = true;
    const bool need_busybox = opt.workload == "busybox" || !opt.no_busybox;
    if (opt.quick && opt.rootfs.empty() && need_busybox) {
        try {
            default_rootfs();
        } catch (const std::exception& e) {
            fmt::print(stderr, "net_bench: {}\n", e.what());
            return skipped;
        }
    }

    install_signal_handlers();
    report rep;
    try {
        auto supervisor =
            opt.supervisor.empty() ? default_supervisor() : fs::absolute(opt.supervisor);
        std::optional<workload> busybox;
        if (need_busybox)
            busybox =
                busybox_workload(opt.rootfs.empty() ? default_rootfs() : fs::absolute(opt.rootfs));
        if (opt.tmpfs_dir.empty()) {
            opt.tmpfs_dir = fs_type("/run") == "tmpfs" ? "/run" : "/dev/shm";
            if (opt.tmpfs_dir != "/run")
                rep.notes.push_back(fmt::format(
                    "/run is {} here, not tmpfs: the default state dir /run/ctr-supervisor is on "
                    "that file system; the tmpfs runs use /dev/shm",
                    fs_type("/run")));
        }
        if (fs_type(opt.tmpfs_dir) != "tmpfs")
            rep.notes.push_back(fmt::format("--tmpfs-dir {} is {}, not tmpfs", opt.tmpfs_dir,
                                            fs_type(opt.tmpfs_dir)));
        std::sort(opt.containers.begin(), opt.containers.end());
        opt.containers.erase(std::unique(opt.containers.begin(), opt.containers.end()),
                             opt.containers.end());
        if (!opt.disk_containers) opt.disk_containers = opt.containers.back();
        rep.host = host_line();
        rep.notes.push_back("load average before the runs: " + load_average());
        if (auto busy = busy_neighbours(); !busy.empty()) {
            if (busy.size() > 6) busy.resize(6);
            rep.notes.push_back(fmt::format(
                "other container or build work was running when the benchmark began, which skews "
                "its figures: {}",
                fmt::join(busy, ", ")));
        }
        // One image for every run of this invocation, on the same tmpfs as the main runs' state.
        std::optional<pause_image> pause;
        if (opt.workload == "pause") pause.emplace(opt.tmpfs_dir, pause_binary());
        const workload main_workload = pause ? pause->get() : *busybox;
        if (opt.workload == "busybox" && !have_pause())
            rep.notes.push_back(fmt::format(
                "no ctr-pause at {} (it is built on x86_64 only): the workload is busybox sh + "
                "sleep, whose start-up costs CPU that is billed to `all running`",
                pause_binary().string()));
        rep.supervisor = supervisor.string();
        rep.rootfs = main_workload.rootfs.string();
        rep.workload = main_workload.name;
        rep.workload_what = main_workload.what;
        rep.repeat = opt.repeat;

        auto ours_run = [&](const workload& w, int n, const std::string& dir,
                            const std::string& what, int i) {
            ours_options o;
            o.containers = n;
            o.parent_dir = dir;
            o.supervisor = supervisor;
            o.rootfs = w.rootfs;
            o.command = w.command;
            o.workload = w.name;
            o.log_level = opt.log_level;
            o.wrap = split_words(opt.wrap);
            if (!opt.keep_logs.empty())
                o.keep_logs =
                    fs::path(opt.keep_logs) / fmt::format("ours-{}-n{}-run{}", what, n, i);
            return run_ours(o);
        };

        if (!opt.no_warmup) {
            progress(opt, "warm-up run (not reported)");
            auto w = ours_run(main_workload, std::min(10, opt.containers.front()), opt.tmpfs_dir,
                              "warmup", 0);
            if (!w.ok())
                rep.notes.push_back("the warm-up run failed: " +
                                    (w.errors.empty() ? w.leaks.front() : w.errors.front()));
            settle(opt);
        }
        struct config {
            std::string where, dir;
            int containers;
            const workload& w;
        };
        std::vector<config> configs;
        for (int n : opt.containers)
            configs.push_back({"tmpfs", opt.tmpfs_dir, n, main_workload});
        if (!opt.no_disk)
            configs.push_back({"disk", opt.disk_dir, opt.disk_containers, main_workload});
        // What the old workload's own start-up adds, in every report: its figures beside the
        // targets' (which are judged on the main rows).
        if (!opt.no_busybox)
            configs.push_back({"tmpfs", opt.tmpfs_dir, opt.containers.back(), *busybox});
        for (auto& c : configs) {
            ours_series s{c.where, c.dir, c.w.name, c.containers, {}};
            for (int i = 1; i <= opt.repeat; ++i) {
                throw_if_interrupted();
                progress(opt, fmt::format(
                                  "ctr-supervisor, {} containers, state on {} ({}), workload {}: "
                                  "run {}/{}",
                                  c.containers, c.where, c.dir, c.w.name, i, opt.repeat));
                auto what = c.w.name == main_workload.name ? c.where : c.w.name;
                s.runs.push_back(ours_run(c.w, c.containers, c.dir, what, i));
                settle(opt);
            }
            rep.ours.push_back(std::move(s));
        }

        if (opt.no_crun)
            rep.seed_skipped = "--no-crun";
        else
            rep.seed_skipped = seed_unavailable();
        if (!rep.seed_skipped) {
            for (int n : opt.containers) {
                seed_series s{n, {}};
                for (int i = 1; i <= opt.repeat; ++i) {
                    throw_if_interrupted();
                    progress(opt, fmt::format("crun run -d + ip, {} containers: run {}/{}", n, i,
                                              opt.repeat));
                    s.runs.push_back(run_seed({n, opt.tmpfs_dir, main_workload.rootfs,
                                               main_workload.args, main_workload.name}));
                    settle(opt);
                }
                if (s.runs.front().cgroup_workaround &&
                    std::find_if(rep.notes.begin(), rep.notes.end(), [](auto& x) {
                        return x.starts_with("crun ran");
                    }) == rep.notes.end())
                    rep.notes.push_back(
                        "crun ran in a mount namespace of its own where the hybrid cgroup2 mount "
                        "(/sys/fs/cgroup/unified, which holds a controller here) is hidden: crun "
                        "1.8 refuses hybrid mode; it used cgroup v1 as ctr-supervisor does");
                rep.seed.push_back(std::move(s));
            }
        }
        if (pause)
            if (auto left = pause->remove(); !left.empty())
                throw std::runtime_error(
                    fmt::format("the pause image was not removed: {}", fmt::join(left, "; ")));
    } catch (const std::exception& e) {
        rep.notes.push_back(std::string("stopped: ") + e.what());
        if (opt.json)
            fmt::print("{}\n", to_json(rep).dump(2));
        else
            fmt::print("{}", to_text(rep));
        fmt::print(stderr, "net_bench: {}\n", e.what());
        return pending_signal() ? 128 + pending_signal() : 1;
    }
    rep.notes.push_back("load average after the runs: " + load_average());
    if (opt.json)
        fmt::print("{}\n", to_json(rep).dump(2));
    else
        fmt::print("{}", to_text(rep));
    if (pending_signal()) return 128 + pending_signal();
    return rep.ok() ? 0 : 1;
}
