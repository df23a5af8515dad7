#include "run.hpp"

#include "host/host.hpp"
#include "stats.hpp"
#include "supervisor_process.hpp"
#include <algorithm>
#include <csignal>
#include <cstring>
#include <fstream>
#include <random>
#include <stdlib.h>
#include <sys/stat.h>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ctr/control/client.hpp"
#include "ctr/core/error.hpp"
#include "ctr/net/names.hpp"
#include "ctr/sys/files.hpp"

namespace ctr::loadtest {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// How long after the supervisor's exit something of the run may still be going away by itself
// before it counts as a leak.
constexpr auto linger_limit = 2s;

namespace {

volatile std::sig_atomic_t last_signal = 0;
volatile std::sig_atomic_t signal_count = 0;

extern "C" void on_signal(int sig) {
    last_signal = sig;
    signal_count = signal_count + 1;
}

// Thrown out of any waiting step when a signal asked to end the run.
struct interrupted : std::runtime_error {
    interrupted()
        : std::runtime_error(fmt::format("interrupted by SIG{}", sigabbrev_np(last_signal))) {}
};

void check_interrupt() {
    if (last_signal) throw interrupted();
}

double unix_ms(std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(t.time_since_epoch()).count();
}

double ms_since(steady::time_point t) {
    return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

std::optional<double> mtime_unix_ms(const fs::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return std::nullopt;
    return static_cast<double>(st.st_mtim.tv_sec) * 1e3 +
           static_cast<double>(st.st_mtim.tv_nsec) / 1e6;
}

std::string tail_of(const fs::path& file, std::size_t lines) {
    std::ifstream in(file);
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);)
        all.push_back(std::move(line));
    auto from = all.size() > lines ? all.size() - lines : 0;
    std::string out;
    for (auto i = from; i < all.size(); ++i)
        out += all[i] + "\n";
    return out;
}

// Everything one run knows while it goes on.
struct run_state {
    const options& opt;
    scenario s;
    result r;
    std::set<std::string> netns_before;
    std::chrono::system_clock::time_point launch_wall;
    steady::time_point launch;
    std::optional<supervisor_process> sup;
    std::vector<int> running;             // replica indexes that reached running
    std::set<std::string> pid_namespaces; // of every container process seen running
    std::set<std::string> interfaces;     // host ends of their veths
    std::optional<long> peak_rss_kib;

    double since_launch_ms(double unix) const { return unix - unix_ms(launch_wall); }

    json call(const json& request) const { return control::client(s.socket()).call(request); }

    void sample_rss() {
        if (auto kib = host::status_kib(sup->pid(), "VmHWM:"))
            peak_rss_kib = std::max(peak_rss_kib.value_or(0), *kib);
    }

    void check_supervisor() const {
        if (sup->exited()) fail("ctr-supervisor exited during the run");
    }
};

// Bridge and subnet first, so that a host without a free one fails before anything exists.
scenario make_scenario(const options& opt) {
    scenario s;
    s.containers = opt.containers;
    s.peers = opt.peers;
    s.count = ping_count(opt.duration);
    s.rootfs = opt.rootfs.empty() ? host::default_rootfs() : fs::absolute(opt.rootfs);
    if (!fs::is_directory(s.rootfs)) fail("--rootfs {}: not a folder", s.rootfs.string());
    std::random_device random;
    auto links = host::links();
    do {
        s.tag = fmt::format("lt{:06x}", random() & 0xffffff);
        s.bridge = "br" + s.tag;
    } while (links.contains(s.bridge));
    s.subnet = host::free_subnet(random());

    char dir[] = "/tmp/ctr-loadtest-XXXXXX";
    if (!::mkdtemp(dir)) throw_errno("mkdtemp({})", dir);
    s.dir = dir;
    std::ofstream(s.config()) << config_text(s);
    return s;
}

void wait_for_socket(run_state& st) {
    auto deadline = steady::now() + 15s;
    for (;;) {
        check_interrupt();
        if (st.sup->exited()) fail("ctr-supervisor exited before its control socket answered");
        try {
            control::client c(st.s.socket());
            st.r.socket_ms = ms_since(st.launch);
            return;
        } catch (const ctr::error&) {
        }
        if (steady::now() > deadline) fail("the control socket did not answer within 15 s");
        std::this_thread::sleep_for(5ms);
    }
}

std::string describe(const json& c) {
    auto text = fmt::format("{}: {}", c.value("name", "?"), c.value("state", "?"));
    if (auto e = c.find("error"); e != c.end() && e->is_string())
        text += " (" + e->get<std::string>() + ")";
    return text;
}

// "stopped" is not among them: every container shows it until its lifecycle first runs, and
// nothing stops one by hand during a load test.
bool gone_for_good(const std::string& state) {
    return state == "failed" || state == "exited";
}

// Until every container runs; with --keep-going, until each one either runs or has given up.
void wait_until_running(run_state& st) {
    auto limit = 30s + st.s.containers * 100ms;
    auto deadline = steady::now() + limit;
    for (;;) {
        check_interrupt();
        st.check_supervisor();
        st.sample_rss();
        bool all = false;
        try {
            st.call({{"op", "wait"},
                     {"names", json::array()},
                     {"state", "running"},
                     {"timeout_ms", 500}});
            all = true;
        } catch (const ctr::error&) { // not yet; ps says why
        }
        auto list = st.call({{"op", "ps"}})["containers"];
        std::vector<std::string> up, given_up;
        for (auto& c : list) {
            auto state = c.value("state", "");
            if (state == "running") up.push_back(c["name"]);
            if (gone_for_good(state)) given_up.push_back(describe(c));
        }
        bool settled = up.size() + given_up.size() == static_cast<std::size_t>(st.s.containers);
        if (all || (!given_up.empty() && (!st.opt.keep_going || settled))) {
            st.r.failed = given_up;
            break;
        }
        if (steady::now() > deadline) {
            std::vector<std::string> behind;
            for (auto& c : list)
                if (c.value("state", "") != "running") behind.push_back(describe(c));
            if (behind.size() > 5) behind.resize(5);
            fail("not every container ran within {} s: {}", limit.count() / 1000,
                 fmt::join(behind, ", "));
        }
    }
}

// What only a running container tells: its start time, its pid namespace, its veth.
void record_containers(run_state& st) {
    std::vector<double> latencies;
    std::optional<double> last;
    // Held in a variable: a range-for over a member of a temporary would dangle.
    auto list = st.call({{"op", "ps"}})["containers"];
    for (auto& c : list) {
        if (c.value("state", "") != "running") continue;
        auto name = c["name"].get<std::string>();
        st.running.push_back(std::stoi(name.substr(name.rfind('-') + 1)));
        if (c["pid"].is_number()) st.pid_namespaces.insert(host::pid_ns_of(c["pid"].get<pid_t>()));
        if (c["started_at"].is_number()) {
            double latency = st.since_launch_ms(c["started_at"].get<double>());
            latencies.push_back(latency);
            last = std::max(last.value_or(latency), latency);
        }
    }
    st.pid_namespaces.erase("");
    std::sort(st.running.begin(), st.running.end());
    st.r.running = static_cast<int>(st.running.size());
    if (st.r.failed.empty()) st.r.all_running_ms = last;
    st.r.start_latency_ms = {percentile(latencies, 50), percentile(latencies, 99),
                             percentile(latencies, 100)};
    auto networks = st.call({{"op", "net"}})["networks"];
    for (auto& n : networks)
        if (n.value("name", "") == st.s.tag)
            for (auto& c : n["containers"])
                if (c["interface"].is_string()) st.interfaces.insert(c["interface"]);
}

// Replicas whose peers all run: only they can finish their measured runs.
std::vector<int> measurable(const run_state& st) {
    std::set<std::string> up;
    for (int i : st.running)
        up.insert(st.s.name(i));
    std::vector<int> out;
    for (int i : st.running) {
        auto peers = st.s.peers_of(i);
        if (std::all_of(peers.begin(), peers.end(), [&](auto& p) { return up.contains(p); }))
            out.push_back(i);
    }
    return out;
}

void wait_for_pings(run_state& st, const std::vector<int>& expected) {
    auto limit = 60s + std::chrono::milliseconds(static_cast<long>(st.opt.duration * 2000));
    auto deadline = steady::now() + limit;
    auto next_ps = steady::now() + 1s;
    std::set<std::string> watched; // the ones that ran: with --keep-going, not the failed ones
    for (int i : st.running)
        watched.insert(st.s.name(i));
    for (;;) {
        check_interrupt();
        st.check_supervisor();
        st.sample_rss();
        std::vector<std::string> pending;
        for (int i : expected)
            if (!fs::exists(st.s.upper(st.s.name(i)) / pings_done_file))
                pending.push_back(st.s.name(i));
        if (pending.empty()) break;
        if (steady::now() > next_ps) { // a container that stopped running would never finish
            next_ps = steady::now() + 1s;
            auto list = st.call({{"op", "ps"}})["containers"];
            for (auto& c : list)
                if (c.value("state", "") != "running" && watched.contains(c.value("name", "")))
                    fail("{} during the pings", describe(c));
        }
        if (steady::now() > deadline) {
            if (pending.size() > 5) pending.resize(5);
            fail("measured pings not over within {} s in: {}", limit.count() / 1000,
                 fmt::join(pending, ", "));
        }
        std::this_thread::sleep_for(50ms);
    }
    st.r.pings_done_ms = ms_since(st.launch);
    std::optional<double> last;
    for (int i : expected)
        if (auto t = mtime_unix_ms(st.s.upper(st.s.name(i)) / peers_ok_file))
            last = std::max(last.value_or(*t), *t);
    if (last) st.r.peers_ok_ms = st.since_launch_ms(*last);
}

void collect_pings(run_state& st, const std::vector<int>& expected) {
    std::vector<double> rtts;
    for (int i : expected) {
        auto name = st.s.name(i);
        for (auto& peer : st.s.peers_of(i)) {
            auto text = sys::read_file(st.s.upper(name) / ping_log_file(peer)).value_or("");
            auto run = parse_ping_log(text);
            if (!run.complete)
                st.r.errors.push_back(
                    fmt::format("{} -> {}: no ping statistics in its output", name, peer));
            if (run.received < run.sent)
                st.r.errors.push_back(fmt::format("{} -> {}: {} of {} pings lost", name, peer,
                                                  run.sent - run.received, run.sent));
            st.r.sent += run.sent;
            st.r.received += run.received;
            rtts.insert(rtts.end(), run.rtt_ms.begin(), run.rtt_ms.end());
        }
    }
    st.r.rtt_ms = {percentile(rtts, 50), percentile(rtts, 99), percentile(rtts, 100)};
}

void stop_supervisor(run_state& st) {
    st.sample_rss();
    bool died_early = st.sup->exited();
    auto limit = 60s + st.s.containers * 200ms;
    // Asked every 10 ms while it shuts down: its peak may still grow then.
    auto hurry = [&] {
        st.sample_rss();
        return signal_count >= 2;
    };
    auto outcome = st.sup->stop(SIGTERM, limit, hurry);
    st.r.peak_rss_kib = st.peak_rss_kib;
    if (!outcome) {
        st.r.errors.push_back(
            fmt::format("ctr-supervisor did not exit within {} s of SIGTERM: killed it",
                        std::chrono::duration_cast<std::chrono::seconds>(limit).count()));
        outcome = st.sup->stop(SIGKILL, 10s);
    }
    if (!outcome) return st.r.errors.push_back("ctr-supervisor survived SIGKILL");
    st.r.exit_code = outcome->exit_code;
    st.r.cpu_seconds = outcome->cpu_seconds;
    if (!died_early) st.r.stop_ms = outcome->stop_ms;
    if (outcome->exit_code != 0)
        st.r.errors.push_back(fmt::format("ctr-supervisor exited with {}", outcome->exit_code));
}

// One look at the host for what is left of the run.
struct leaks scan(const run_state& st, std::vector<pid_t>& pids, std::vector<fs::path>& cgroups) {
    struct leaks l;
    auto links = host::links();
    std::set<std::string> ours = st.interfaces;
    ours.insert(st.s.bridge);
    for (auto& name : ours)
        if (links.contains(name)) l.links.push_back(name);
    for (auto& ns : host::named_netns())
        if (!st.netns_before.contains(ns)) l.netns.push_back(ns);
    l.mounts = host::mounts_mentioning(st.s.dir.string());
    pids = host::processes_in(st.pid_namespaces);
    for (auto pid : pids) {
        auto comm = sys::read_file(fmt::format("/proc/{}/comm", pid)).value_or("?\n");
        l.processes.push_back(fmt::format("{} ({})", pid, comm.substr(0, comm.find('\n'))));
    }
    cgroups = host::cgroups_mentioning({st.s.dir.filename().string(), st.s.tag});
    for (auto& c : cgroups)
        l.cgroups.push_back(c.string());
    return l;
}

std::vector<std::string> all_of(const struct leaks& l) {
    std::vector<std::string> out;
    for (auto* v : {&l.links, &l.netns, &l.mounts, &l.processes, &l.cgroups})
        out.insert(out.end(), v->begin(), v->end());
    return out;
}

void check_leaks(run_state& st) {
    std::vector<pid_t> pids;
    std::vector<fs::path> cgroups;
    auto began = steady::now();
    auto at_exit = scan(st, pids, cgroups);
    auto l = at_exit;
    // What the kernel is still tearing down by itself (a dying network namespace takes its veth
    // with it a little later) is not a leak, but the report names it and how long it took.
    std::optional<double> last_gone;
    while (!l.clean() && steady::now() - began < linger_limit) {
        std::this_thread::sleep_for(10ms);
        auto before = all_of(l).size();
        l = scan(st, pids, cgroups);
        if (all_of(l).size() < before) last_gone = ms_since(began);
    }
    auto now_left = all_of(l);
    for (auto& item : all_of(at_exit))
        if (std::find(now_left.begin(), now_left.end(), item) == now_left.end())
            st.r.lingered.push_back(item);
    st.r.lingered_ms = last_gone;

    // Whatever the supervisor left, loadtest removes: it is all this run's own.
    auto undo = [&](std::vector<std::string> failed) {
        l.not_cleaned.insert(l.not_cleaned.end(), failed.begin(), failed.end());
    };
    undo(host::kill_processes(pids));
    undo(host::delete_links(l.links));
    undo(host::detach_mounts_under(st.s.dir));
    undo(host::remove_cgroups(cgroups));
    for (auto [what, v] : {std::pair{"link", &l.links}, std::pair{"named netns", &l.netns},
                           std::pair{"mount", &l.mounts}, std::pair{"process", &l.processes},
                           std::pair{"cgroup", &l.cgroups}})
        for (auto& item : *v)
            st.r.errors.push_back(fmt::format("leak: {} {}", what, item));
    st.r.leaks = std::move(l);
}

void remove_dir(run_state& st) {
    if (!host::mounts_mentioning(st.s.dir.string()).empty()) {
        st.r.leaks.not_cleaned.push_back(st.s.dir.string() + " (kept: something is mounted in it)");
        return;
    }
    try {
        sys::remove_tree(st.s.dir);
    } catch (const std::exception& e) {
        st.r.leaks.not_cleaned.push_back(fmt::format("{}: {}", st.s.dir.string(), e.what()));
    }
}

// Runs `step`; a failure becomes the run's error and tells the caller to skip what depends on it.
template <typename F> bool step(run_state& st, F&& f) {
    try {
        f();
        return true;
    } catch (const std::exception& e) {
        st.r.errors.push_back(e.what());
        return false;
    }
}

} // namespace

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal; // no SA_RESTART: a blocking wait returns and sees the flag
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP})
        ::sigaction(sig, &sa, nullptr);
}

result run(const options& opt) {
    auto exe = host::own_dir() / "ctr-supervisor";
    if (!fs::exists(exe)) fail("no ctr-supervisor beside loadtest: {} is missing", exe.string());
    run_state st{opt, make_scenario(opt), {}, host::named_netns(), {}, {}, {}, {}, {}, {}, {}};
    auto& r = st.r;
    r.containers = opt.containers;
    r.peers = st.s.peers;
    r.pings_per_peer = st.s.count;
    r.duration_s = opt.duration;
    r.bridge = st.s.bridge;
    r.subnet = st.s.subnet;
    // The names the supervisor derives, so the leak check knows them even if it never answers.
    for (auto& name : st.s.names())
        st.interfaces.insert(net::host_ifname(st.s.tag, name));

    st.launch_wall = std::chrono::system_clock::now();
    st.launch = steady::now();
    bool launched = step(st, [&] { st.sup.emplace(exe, st.s.config(), st.s.log()); });
    if (launched && step(st, [&] { wait_for_socket(st); })) {
        bool up = step(st, [&] { wait_until_running(st); });
        step(st, [&] { record_containers(st); });
        if (up && (r.failed.empty() || opt.keep_going) && r.errors.empty()) {
            auto expected = measurable(st);
            if (step(st, [&] { wait_for_pings(st, expected); }))
                step(st, [&] { collect_pings(st, expected); });
        }
    }
    for (auto& f : r.failed)
        r.errors.push_back("container " + f);
    if (r.running < r.containers)
        r.errors.push_back(fmt::format("{} of {} containers ran", r.running, r.containers));
    if (r.errors.empty() && r.received == 0) r.errors.push_back("no ping got an answer");
    if (launched) step(st, [&] { stop_supervisor(st); });
    step(st, [&] { check_leaks(st); });
    if (!r.ok() && !last_signal) r.log_tail = tail_of(st.s.log(), 20);
    remove_dir(st);
    if (last_signal) r.interrupted_by = last_signal;
    return r;
}

} // namespace ctr::loadtest
