// tty_bench: issue 3's "Speed": the kernel pty's own rate beside the supervisor's relay of a
// container's terminal to an attached client, the wake-ups of a supervisor holding idle
// terminals, and `ps` latency while containers flood theirs. Run as root; see bench/README.md.
// Exit codes: 0 every phase ran (the targets are reported, not enforced); 1 a phase failed;
// 2 usage; 77 it cannot run here (not root, no image); 128+N interrupted by signal N (after
// cleaning up).
#include "net_bench/host.hpp"
#include "tty_bench/pty_rate.hpp"
#include "tty_bench/stream_reader.hpp"
#include "tty_bench/supervisor_run.hpp"
#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <thread>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctr/core/error.hpp"

namespace {

using namespace ctr::bench;
using namespace std::chrono_literals;
using nlohmann::json;
namespace control = ctr::control;

constexpr double relay_target = 0.80; // of the raw pty rate
constexpr double max_steal = 0.02;    // of the CPU time over a run: more, and the pair is set aside
constexpr double ps_p99_target_ms = 10;

struct options {
    bool quick = false;
    unsigned size_mib = 256;
    int repeat = 3;
    int idle = 100;
    double idle_seconds = 5;
    int flooders = 10;
    int requests = 500;
    std::string log_max_size = "1M";
    std::string dir;
    std::string supervisor;
    std::string rootfs;
    std::vector<std::string> phases{"relay", "idle", "flood"};
};

std::optional<fs::path> first_existing(std::vector<fs::path> candidates, const char* inside) {
    for (auto& c : candidates)
        if (fs::exists(c / inside)) return fs::canonical(c);
    return std::nullopt;
}

std::string load_average() {
    std::ifstream in("/proc/loadavg");
    std::string one, five;
    in >> one >> five;
    return fmt::format("{} (1 min), {} (5 min)", one, five);
}

double cpu_seconds_of_self() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    auto s = [](timeval t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return s(u.ru_utime) + s(u.ru_stime);
}

// The share of the machine's CPU time that the hypervisor gave to other guests over a span
// (/proc/stat's steal): on a VM, the noise that pairing raw and relay runs cannot remove.
struct cpu_times {
    std::uint64_t total = 0, steal = 0;
};

cpu_times read_cpu_times() {
    std::ifstream in("/proc/stat");
    std::string cpu;
    in >> cpu; // user nice system idle iowait irq softirq steal (guest time is inside user)
    cpu_times t;
    std::uint64_t v = 0;
    for (int i = 0; i < 8 && in >> v; ++i) {
        t.total += v;
        if (i == 7) t.steal = v;
    }
    return t;
}

double steal_share(cpu_times a, cpu_times b) {
    return b.total > a.total
               ? static_cast<double>(b.steal - a.steal) / static_cast<double>(b.total - a.total)
               : 0;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    auto at = static_cast<std::size_t>(std::ceil(p / 100 * static_cast<double>(v.size()))) - 1;
    return v[std::min(at, v.size() - 1)];
}

// ---- relay ---------------------------------------------------------------------------------

struct relay_sample {
    std::uint64_t bytes = 0;
    double seconds = 0;        // from the input that starts the writer to the last byte
    double exit_ms = 0;        // from the last byte to the exit frame
    double supervisor_cpu = 0; // its user+system seconds over the same span, the exit included
    double client_cpu = 0;     // this process's
    std::string dropped;       // the supervisor's error frame when it dropped the client
    double mb_per_s() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0; }
};

// Attaches (without replay) to a container whose command waits for one line on its terminal
// and then writes `bytes` zeros to it, sends that line and reads until the exit frame. The
// line, not a sleep, starts the writer: no byte can come before the client is there, however
// slowly a loaded machine starts the container.
// `run_number` counts from 0: the container's restarts when the run to attach to is running.
relay_sample relay_once(supervisor_run& run, const std::string& name, std::uint64_t bytes,
                        int run_number) {
    // The container's previous run may still be writing (after a drop), ending or waiting to
    // restart.
    auto deadline = steady::now() + 60s;
    std::optional<stream_connection> attached;
    frame_counter in;
    for (;;) {
        throw_if_interrupted();
        if (steady::now() > deadline) ctr::fail("run {} of {} never came", run_number + 1, name);
        auto c = run.call({{"op", "ps"}})["containers"];
        if (c.empty() || c[0].value("state", "") != "running" ||
            c[0].value("restarts", 0) < run_number) {
            std::this_thread::sleep_for(5ms);
            continue;
        }
        stream_connection conn(run.socket());
        in = frame_counter{};
        auto answer = json::parse(
            conn.request(json{{"op", "attach"}, {"name", name}, {"replay", false}}.dump(), in));
        if (answer.value("ok", false)) {
            if (!answer.value("tty", false)) ctr::fail("{} has no terminal", name);
            attached.emplace(std::move(conn));
            break;
        }
        auto why = answer.value("error", answer.dump());
        if (why.find("not running") == std::string::npos || steady::now() > deadline)
            ctr::fail("attach {}: {}", name, why);
        std::this_thread::sleep_for(5ms);
    }
    auto& conn = *attached;

    relay_sample s;
    auto cpu0 = run.counters().cpu_ticks;
    double self0 = cpu_seconds_of_self();
    auto start = steady::now();
    auto last = start;
    conn.send(control::frame_type::stdin_data, "\n");
    for (;;) {
        auto before = in.data_bytes;
        if (!conn.receive(in)) break;
        if (in.data_bytes != before) last = steady::now();
        if (in.exit || in.error) break;
    }
    auto end = steady::now();
    s.supervisor_cpu = ticks_to_seconds(run.counters().cpu_ticks - cpu0);
    s.client_cpu = cpu_seconds_of_self() - self0;
    s.seconds = std::chrono::duration<double>(last - start).count();
    if (in.error) {
        // Reported, not fatal: being dropped while reading as fast as it can is a figure.
        s.dropped = *in.error;
        s.bytes = in.data_bytes;
        return s;
    }
    if (!in.exit)
        ctr::fail("attach {} ended without an exit frame after {} bytes; the supervisor's log "
                  "ends with:\n{}",
                  name, in.data_bytes, run.log_tail());
    auto exit = json::parse(*in.exit);
    if (exit["exit_code"] != 0) ctr::fail("{}'s writer ended with {}", name, exit.dump());
    // Beyond the writer's bytes the terminal only echoes the line, as "\r\n".
    if (in.data_bytes < bytes)
        ctr::fail("the relay delivered {} bytes of {}", in.data_bytes, bytes);
    s.bytes = bytes;
    s.exit_ms = std::chrono::duration<double, std::milli>(end - last).count();
    return s;
}

struct relay_result {
    std::vector<pty_rate> raw;
    std::vector<relay_sample> relay;
    std::vector<double> raw_steal, relay_steal; // steal_share() over each run
    std::uintmax_t log_bytes = 0;
    bool log_limited = true;
};

relay_result run_relay(const options& opt, run_settings rs, const fs::path& busybox) {
    std::uint64_t bytes = std::uint64_t{opt.size_mib} << 20;
    std::string name = "tb" + rs.tag + "-relay";
    // restart = always: each repetition attaches to the container's next run.
    rs.containers = fmt::format("[container {}]\nrootfs = @ROOTFS@\ntty = true\nrestart = always\n"
                                "command = sh -c 'read go; exec head -c {} /dev/zero'\n",
                                name, bytes);
    relay_result r;
    supervisor_run run(rs);
    r.log_limited = run.log_limit_applied();
    run.wait_all_running(30s);
    // Alternated, so that whatever else the machine does weighs on both alike.
    for (int i = 0; i < opt.repeat; ++i) {
        fmt::print(stderr, "  raw pty {}/{}\n", i + 1, opt.repeat);
        auto t0 = read_cpu_times();
        r.raw.push_back(measure_pty(busybox, bytes));
        auto t1 = read_cpu_times();
        fmt::print(stderr, "  relay {}/{}\n", i + 1, opt.repeat);
        r.relay.push_back(relay_once(run, name, bytes, i));
        r.raw_steal.push_back(steal_share(t0, t1));
        r.relay_steal.push_back(steal_share(t1, read_cpu_times()));
    }
    r.log_bytes = run.log_bytes(name);
    run.stop();
    return r;
}

// ---- idle ----------------------------------------------------------------------------------

struct idle_result {
    int containers = 0;
    double seconds = 0;
    process_counters delta;
    process_counters before; // since its start: shows that the counters count
};

idle_result run_idle(const options& opt, run_settings rs) {
    rs.containers = fmt::format("[container tb{}-idle]\nrootfs = @ROOTFS@\ntty = true\n"
                                "replicas = {}\ncommand = sleep 100000\n",
                                rs.tag, opt.idle);
    supervisor_run run(rs);
    run.wait_all_running(std::chrono::seconds(60 + opt.idle));
    // The last starts' own work (the shell's prompt-less start, our wait request) settles.
    std::this_thread::sleep_for(1s);
    idle_result r;
    r.containers = opt.idle;
    auto before = run.counters();
    r.before = before;
    auto t0 = steady::now();
    auto until = t0 + std::chrono::duration_cast<steady::duration>(
                          std::chrono::duration<double>(opt.idle_seconds));
    while (steady::now() < until) {
        throw_if_interrupted();
        std::this_thread::sleep_until(std::min(until, steady::now() + 100ms));
    }
    auto after = run.counters();
    r.seconds = std::chrono::duration<double>(steady::now() - t0).count();
    r.delta = {after.voluntary - before.voluntary, after.involuntary - before.involuntary,
               after.cpu_ticks - before.cpu_ticks};
    run.stop();
    return r;
}

// ---- ps under a flood ----------------------------------------------------------------------

struct flood_result {
    int flooders = 0;
    std::vector<double> ms;
    double supervisor_cpu_share = 0; // of one CPU, over the requests
    std::uintmax_t log_bytes = 0;
};

flood_result run_flood(const options& opt, run_settings rs) {
    std::string base = "tb" + rs.tag + "-flood";
    rs.containers =
        fmt::format("[container {}]\nrootfs = @ROOTFS@\ntty = true\nreplicas = {}\ncommand = yes\n",
                    base, opt.flooders);
    supervisor_run run(rs);
    run.wait_all_running(60s);
    std::this_thread::sleep_for(500ms); // every terminal is full and draining
    flood_result r;
    r.flooders = opt.flooders;
    auto cpu0 = run.counters().cpu_ticks;
    auto t0 = steady::now();
    for (int i = 0; i < opt.requests; ++i) {
        throw_if_interrupted();
        auto start = steady::now();
        auto answer = run.call({{"op", "ps"}});
        r.ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - start).count());
        if (i == 0) {
            int running = 0;
            for (auto& c : answer["containers"])
                running += c.value("state", "") == "running";
            if (running != opt.flooders)
                ctr::fail("{} of {} flooding containers running", running, opt.flooders);
        }
    }
    double wall = std::chrono::duration<double>(steady::now() - t0).count();
    r.supervisor_cpu_share = ticks_to_seconds(run.counters().cpu_ticks - cpu0) / wall;
    for (int i = 1; i <= opt.flooders; ++i)
        r.log_bytes += run.log_bytes(fmt::format("{}-{}", base, i));
    run.stop();
    return r;
}

// ---- report --------------------------------------------------------------------------------

std::string verdict(bool met) {
    return met ? "met" : "MISSED";
}

template <class T, class F> double median_of(const std::vector<T>& v, F f) {
    std::vector<double> x;
    for (auto& e : v)
        x.push_back(f(e));
    return median(x);
}

template <class T, class F> std::string spread(const std::vector<T>& v, F f, const char* fmt_) {
    if (v.size() < 2) return "";
    std::vector<double> x;
    for (auto& e : v)
        x.push_back(f(e));
    auto [lo, hi] = std::minmax_element(x.begin(), x.end());
    return fmt::format(" [{}-{}]", fmt::format(fmt::runtime(fmt_), *lo),
                       fmt::format(fmt::runtime(fmt_), *hi));
}

void row(const std::string& figure, const std::string& value, const std::string& target = "",
         const std::string& met = "") {
    fmt::print("{:<44} {:<30} {:<14} {}\n", figure, value, target, met);
}

void print_relay(const options& opt, const relay_result& r) {
    auto raw = [](const pty_rate& p) { return p.mb_per_s(); };
    auto relay = [](const relay_sample& s) { return s.mb_per_s(); };
    double raw_mb = median_of(r.raw, raw), relay_mb = median_of(r.relay, relay);
    // The ratio of each pair measured side by side, then their median. A pair during which the
    // hypervisor took CPU time from either run compares two different machines (seen here: up to
    // 30 %, with ratios from 30 to 120 %), so the verdict counts the pairs without steal when
    // there are any; every pair is still shown.
    std::vector<double> ratios, calm;
    std::string pairs;
    for (std::size_t i = 0; i < r.raw.size() && i < r.relay.size(); ++i) {
        double x = r.relay[i].mb_per_s() / r.raw[i].mb_per_s();
        ratios.push_back(x);
        bool quiet = r.raw_steal[i] < max_steal && r.relay_steal[i] < max_steal;
        if (quiet) calm.push_back(x);
        pairs += fmt::format("{}{:.0f}{}", pairs.empty() ? "" : " ", x * 100, quiet ? "" : "*");
    }
    auto& judged = calm.empty() ? ratios : calm;
    auto pct = [](double x) { return x * 100; };
    double ratio = median(judged);
    auto mib = fmt::format("{} MiB", opt.size_mib);
    row(fmt::format("raw pty, {} (busybox head)", mib),
        fmt::format("{:.1f} MB/s{}", raw_mb, spread(r.raw, raw, "{:.1f}")), "yardstick");
    row(fmt::format("relay to 1 attached client, {}", mib),
        fmt::format("{:.1f} MB/s{}", relay_mb, spread(r.relay, relay, "{:.1f}")));
    row(calm.empty()
            ? "relay / raw pty (every pair had steal)"
            : fmt::format("relay / raw pty ({} of {} pairs, no steal)", calm.size(), ratios.size()),
        fmt::format("{:.0f} %{}", ratio * 100, spread(judged, pct, "{:.0f}")),
        fmt::format(">= {:.0f} %", relay_target * 100),
        verdict(ratio >= relay_target && std::all_of(r.relay.begin(), r.relay.end(),
                                                     [](auto& s) { return s.dropped.empty(); })));
    row("  each pair, % (* = steal)", pairs);
    row("  CPU time stolen (hypervisor): raw, relay",
        fmt::format("{:.0f} %{}, {:.0f} %{}", median(r.raw_steal) * 100,
                    spread(r.raw_steal, pct, "{:.0f}"), median(r.relay_steal) * 100,
                    spread(r.relay_steal, pct, "{:.0f}")));
    auto sup = [](const relay_sample& s) { return s.supervisor_cpu; };
    auto share = [](const relay_sample& s) {
        return s.supervisor_cpu / (s.seconds + s.exit_ms / 1000);
    };
    row("  supervisor CPU per relay (user+sys)",
        fmt::format("{:.2f} s, {:.0f} % of a CPU", median_of(r.relay, sup),
                    median_of(r.relay, share) * 100));
    row("  supervisor CPU per relayed MiB",
        fmt::format("{:.2f} ms", median_of(r.relay, [](auto& s) {
                        return s.supervisor_cpu * 1000 / (static_cast<double>(s.bytes) / (1 << 20));
                    })));
    row("  this client's CPU per relay",
        fmt::format("{:.2f} s",
                    median_of(r.relay, [](const relay_sample& s) { return s.client_cpu; })));
    row("  last byte to exit frame",
        fmt::format("{:.1f} ms",
                    median_of(r.relay, [](const relay_sample& s) { return s.exit_ms; })));
    int drops = 0;
    std::string drop_text;
    for (auto& s : r.relay)
        if (!s.dropped.empty()) {
            ++drops;
            drop_text = fmt::format("{:.1f} MiB in: \"{}\"",
                                    static_cast<double>(s.bytes) / (1 << 20), s.dropped);
        }
    if (drops) {
        row("  client dropped by the supervisor",
            fmt::format("{} of {} relays (rates above: until the drop)", drops, r.relay.size()),
            "never", verdict(false));
        fmt::print("    the last one {}\n", drop_text);
    }
    row("  container log on disk at the end",
        fmt::format("{:.1f} MiB ({})", static_cast<double>(r.log_bytes) / (1 << 20),
                    r.log_limited ? "log_max_size " + opt.log_max_size
                                  : "built-in log_max_size: this build has no such key"));
}

void print_idle(const idle_result& r) {
    auto wakeups = r.delta.voluntary + r.delta.involuntary;
    row(fmt::format("idle: {} tty containers, {:.1f} s", r.containers, r.seconds),
        fmt::format("{} wake-ups ({} vol + {} invol)", wakeups, r.delta.voluntary,
                    r.delta.involuntary),
        "0", verdict(wakeups == 0));
    row("  supervisor CPU over that time",
        fmt::format("{} ticks ({:.2f} s)", r.delta.cpu_ticks, ticks_to_seconds(r.delta.cpu_ticks)),
        "0", verdict(r.delta.cpu_ticks == 0));
    row("  its counts from its start to the window",
        fmt::format("{} vol + {} invol, {} ticks", r.before.voluntary, r.before.involuntary,
                    r.before.cpu_ticks));
}

void print_flood(const flood_result& r) {
    auto n = r.ms.size();
    row(fmt::format("ps, {} in a row, {} containers running yes", n, r.flooders),
        fmt::format("p50 {:.2f} ms, p99 {:.2f} ms", percentile(r.ms, 50), percentile(r.ms, 99)),
        fmt::format("p99 < {:.0f} ms", ps_p99_target_ms),
        verdict(percentile(r.ms, 99) < ps_p99_target_ms));
    row("  max", fmt::format("{:.2f} ms", percentile(r.ms, 100)));
    row("  supervisor CPU while answering",
        fmt::format("{:.0f} % of a CPU", r.supervisor_cpu_share * 100));
    row("  their logs on disk at the end",
        fmt::format("{:.1f} MiB", static_cast<double>(r.log_bytes) / (1 << 20)));
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"Measures the kernel pty's rate and ctr-supervisor's relay of a container's "
                 "terminal to an attached client, the supervisor's wake-ups with idle terminals, "
                 "and ps latency while containers flood their terminals (issue 3, Speed).",
                 "tty_bench"};
    options opt;
    app.add_flag("--quick", opt.quick,
                 "Small sizes (16 MiB, 1 repetition, 10 idle for 1 s, 100 requests): only checks "
                 "that every phase runs");
    app.add_option("--size", opt.size_mib, "MiB written through the pty and the relay")
        ->capture_default_str()
        ->check(CLI::Range(1, 4096));
    app.add_option("-r,--repeat", opt.repeat, "Raw/relay pairs (medians are shown)")
        ->capture_default_str()
        ->check(CLI::Range(1, 50));
    app.add_option("--idle", opt.idle, "Idle tty containers")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    app.add_option("--idle-seconds", opt.idle_seconds, "How long the idle supervisor is watched")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 600.0));
    app.add_option("--flooders", opt.flooders, "Containers running yes during the ps requests")
        ->capture_default_str()
        ->check(CLI::Range(1, 200));
    app.add_option("--requests", opt.requests, "ps requests, one at a time")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000000));
    app.add_option("--log-max-size", opt.log_max_size,
                   "[supervisor] log_max_size of the runs (dropped when the build has no such key)")
        ->capture_default_str();
    app.add_option("--dir", opt.dir,
                   "Where each run's folder (config, socket, state dir, logs) goes (default: /run "
                   "when it is a tmpfs, else /dev/shm)");
    app.add_option("--supervisor", opt.supervisor,
                   "ctr-supervisor to run (default: the one beside tty_bench)");
    app.add_option("--rootfs", opt.rootfs, "Busybox image (default: assets/rootfs/busybox)");
    app.add_option("--phases", opt.phases, "Which phases run (default: all)")
        ->delimiter(',')
        ->check(CLI::IsMember({"relay", "idle", "flood"}));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (opt.quick) {
        auto given = [&](const char* o) { return app.count(o) > 0; };
        if (!given("--size")) opt.size_mib = 16;
        if (!given("--repeat")) opt.repeat = 1;
        if (!given("--idle")) opt.idle = 10;
        if (!given("--idle-seconds")) opt.idle_seconds = 1;
        if (!given("--requests")) opt.requests = 100;
    }
    if (::geteuid() != 0) {
        fmt::print(stderr, "tty_bench: skipped: must run as root (containers)\n");
        return 77;
    }

    run_settings rs;
    std::vector<fs::path> sup_candidates{own_dir() / "ctr-supervisor"};
#ifdef CTR_BENCH_SUPERVISOR
    sup_candidates.emplace_back(CTR_BENCH_SUPERVISOR);
#endif
    rs.supervisor = opt.supervisor.empty() ? sup_candidates.front() : fs::absolute(opt.supervisor);
    if (opt.supervisor.empty())
        for (auto& c : sup_candidates)
            if (::access(c.c_str(), X_OK) == 0) {
                rs.supervisor = c;
                break;
            }
    std::vector<fs::path> image_candidates{own_dir() / "../assets/rootfs/busybox"};
#ifdef CTR_BENCH_ROOTFS
    image_candidates.emplace_back(CTR_BENCH_ROOTFS);
#endif
    if (!opt.rootfs.empty()) image_candidates = {fs::absolute(opt.rootfs)};
    auto rootfs = first_existing(image_candidates, "bin/busybox");
    if (!rootfs) {
        fmt::print(stderr,
                   "tty_bench: skipped: no busybox image at {}: make it with tools/ctr-rootfs "
                   "busybox assets/rootfs/busybox, or pass --rootfs\n",
                   image_candidates.back().lexically_normal().string());
        return 77;
    }
    rs.rootfs = *rootfs;
    rs.log_max_size = opt.log_max_size;
    rs.parent_dir = !opt.dir.empty()             ? fs::path(opt.dir)
                    : fs_type("/run") == "tmpfs" ? fs::path("/run")
                                                 : fs::path("/dev/shm");
    std::random_device random;
    rs.tag = unique_tag(random());

    install_signal_handlers();
    utsname u{};
    ::uname(&u);
    fmt::print("tty_bench: {} CPUs, Linux {}; runs under {} ({}); load average before: {}\n",
               std::thread::hardware_concurrency(), u.release, rs.parent_dir.string(),
               fs_type(rs.parent_dir), load_average());
    fmt::print("{:<44} {:<30} {:<14} {}\n", "figure", "measured", "target", "");

    bool ok = true;
    auto phase = [&](const char* key, const char* what, auto&& body) {
        if (std::find(opt.phases.begin(), opt.phases.end(), key) == opt.phases.end()) return;
        fmt::print(stderr, "tty_bench: {}\n", what);
        try {
            body();
        } catch (const std::exception& e) {
            if (int sig = pending_signal()) {
                fmt::print(stderr, "tty_bench: interrupted, cleaned up\n");
                std::exit(128 + sig);
            }
            row(what, "FAILED");
            fmt::print("  {}\n", e.what());
            ok = false;
        }
    };
    phase("relay", "raw pty and relay",
          [&] { print_relay(opt, run_relay(opt, rs, rs.rootfs / "bin/busybox")); });
    phase("idle", "idle terminals", [&] { print_idle(run_idle(opt, rs)); });
    phase("flood", "ps under a flood", [&] { print_flood(run_flood(opt, rs)); });
    fmt::print("load average after: {}\n", load_average());
    return ok ? 0 : 1;
}
