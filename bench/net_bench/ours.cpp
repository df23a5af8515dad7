#include "ours.hpp"

#include "common/spawn_supervisor.hpp"
#include "host.hpp"
#include <algorithm>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <poll.h>
#include <random>
#include <set>
#include <signal.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "ctr/control/client.hpp"
#include "ctr/core/error.hpp"
#include "ctr/core/unique_fd.hpp"
#include "ctr/net/names.hpp"

namespace ctr::bench {

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// How long after the supervisor's exit something may still be going away by itself (a dying
// network namespace takes its veth end a little later) before it counts as a leak.
constexpr auto linger_limit = 3s;

double unix_ms(std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(t.time_since_epoch()).count();
}

// ctr-supervisor (or the wrapper running it) as our child, in its own process group, told to
// shut down should the benchmark die. Killed and reaped at the end whatever happened.
class supervisor_process {
  public:
    supervisor_process(const std::vector<std::string>& argv, const fs::path& log) {
        unique_fd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
        if (!log_fd) throw_errno("open({})", log.string());
        auto child = spawn_supervisor(argv, log_fd.get(), program_lookup::search_path);
        pid_ = child.pid;
        pidfd_ = std::move(child.pidfd);
    }
    supervisor_process(const supervisor_process&) = delete;
    supervisor_process& operator=(const supervisor_process&) = delete;
    ~supervisor_process() {
        if (reaped_) return;
        ::kill(pid_, SIGTERM);
        if (!wait_exit(30s)) {
            ::kill(pid_, SIGKILL);
            wait_exit(10s);
        }
        ::waitpid(pid_, nullptr, 0);
    }

    pid_t pid() const { return pid_; }
    bool exited() const { return wait_exit(0ms); }
    // True once it has exited (a zombie, not reaped yet).
    bool wait_exit(std::chrono::milliseconds limit) const {
        pollfd p{pidfd_.get(), POLLIN, 0};
        return ::poll(&p, 1, static_cast<int>(limit.count())) == 1;
    }
    // Its CPU while a zombie, then reaps it: the exit code (128 + N for signal N).
    int reap(cpu_seconds* cpu) {
        siginfo_t info{};
        ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT);
        if (cpu) *cpu = cpu_of(pid_).value_or(cpu_seconds{NAN, NAN});
        int status = 0;
        ::waitpid(pid_, &status, 0);
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

  private:
    pid_t pid_ = -1;
    unique_fd pidfd_;
    bool reaped_ = false;
};

struct run_plan {
    std::string network; // "nb" + tag: also the replicas' base name
    std::string bridge;  // "nbbr" + tag
    std::string subnet, gateway;
    fs::path dir;                   // everything of the run
    std::vector<std::string> names; // replicas
    std::vector<std::string> ports; // their host-side veth names, as the supervisor derives them

    fs::path config() const { return dir / "bench.ini"; }
    fs::path socket() const { return dir / "ctr.sock"; }
    fs::path state() const { return dir / "state"; }
    fs::path log() const { return dir / "supervisor.log"; }
};

std::string config_text(const run_plan& p, const ours_options& opt) {
    return fmt::format(R"([supervisor]
socket = {socket}
state_dir = {state}
stop_timeout = 10s

[network {net}]
bridge = {bridge}
subnet = {subnet}

[container {net}]
rootfs = {rootfs}
command = {command}
replicas = {n}
network = {net}
ip = auto
)",
                       fmt::arg("socket", p.socket().string()),
                       fmt::arg("state", p.state().string()), fmt::arg("net", p.network),
                       fmt::arg("bridge", p.bridge), fmt::arg("subnet", p.subnet),
                       fmt::arg("rootfs", opt.rootfs.string()), fmt::arg("command", opt.command),
                       fmt::arg("n", opt.containers));
}

json call(const run_plan& p, const json& request) {
    return control::client(p.socket()).call(request);
}

// What is still there of the run: links, container processes, mounts, cgroups, state files.
std::vector<std::string> scan(const run_plan& p, const std::set<std::string>& pid_namespaces) {
    std::vector<std::string> out;
    auto now = links();
    if (now.contains(p.bridge)) out.push_back("bridge " + p.bridge);
    for (auto& port : p.ports)
        if (now.contains(port)) out.push_back("veth " + port);
    for (auto pid : processes_in(pid_namespaces))
        out.push_back(fmt::format("process {}", pid));
    for (auto& m : mounts_mentioning(p.dir.string()))
        out.push_back("mount " + m.substr(0, 80));
    for (auto& c : cgroups_named(p.network))
        out.push_back("cgroup " + c.string());
    for (const char* sub : {"containers", "networks", "lock"})
        if (fs::exists(p.state() / sub)) out.push_back("state " + (p.state() / sub).string());
    if (fs::exists(p.socket())) out.push_back("socket " + p.socket().string());
    return out;
}

void wait_for_socket(const run_plan& p, supervisor_process& sup) {
    auto deadline = steady::now() + 15s;
    for (;;) {
        throw_if_interrupted();
        if (sup.exited()) fail("ctr-supervisor exited before its control socket answered");
        try {
            control::client c(p.socket());
            return;
        } catch (const std::exception&) {
        }
        if (steady::now() > deadline) fail("its control socket did not answer within 15 s");
        std::this_thread::sleep_for(500us);
    }
}

// Returns once a `wait --state running` on every container is answered; throws as soon as one
// of them has given up (failed, exited).
void wait_all_running(const run_plan& p, supervisor_process& sup, int n) {
    auto deadline = steady::now() + 30s + n * 100ms;
    for (;;) {
        throw_if_interrupted();
        if (sup.exited()) fail("ctr-supervisor exited while its containers started");
        try {
            call(p, {{"op", "wait"},
                     {"names", json::array()},
                     {"state", "running"},
                     {"timeout_ms", 1000}});
            return;
        } catch (const ctr::error&) {
        }
        auto list = call(p, {{"op", "ps"}})["containers"];
        for (auto& c : list) {
            auto state = c.value("state", "");
            if (state == "failed" || state == "exited")
                fail("{} is {}: {}", c.value("name", "?"), state,
                     c["error"].is_string() ? c["error"].get<std::string>() : "no error given");
        }
        if (steady::now() > deadline) fail("not every container ran within the time limit");
    }
}

} // namespace

ours_result run_ours(const ours_options& opt) {
    ours_result r;
    r.containers = opt.containers;
    r.workload = opt.workload;
    r.wrapped = !opt.wrap.empty();
    std::random_device random;

    run_plan p;
    auto tag = unique_tag(random());
    p.network = "nb" + tag;
    p.bridge = "nbbr" + tag;
    p.subnet = free_subnet(random());
    p.gateway = host_in(p.subnet, 1);
    p.dir = make_temp_dir(opt.parent_dir, "ctr-bench");
    for (int i = 1; i <= opt.containers; ++i) {
        p.names.push_back(fmt::format("{}-{}", p.network, i));
        p.ports.push_back(net::host_ifname(p.network, p.names.back()));
    }
    r.bridge = p.bridge;
    r.subnet = p.subnet;
    r.state_dir = p.state().string();
    r.state_fs = fs_type(p.dir);
    std::ofstream(p.config()) << config_text(p, opt);

    std::set<std::string> pid_namespaces;
    std::vector<std::string> argv = opt.wrap;
    for (std::string a : {opt.supervisor.string(), std::string("--config"), p.config().string(),
                          std::string("--log-level"), opt.log_level})
        argv.push_back(a);

    auto launch_wall = unix_ms(std::chrono::system_clock::now());
    auto launch = steady::now();
    std::optional<supervisor_process> sup;
    try {
        sup.emplace(argv, p.log());
        pid_t sup_pid = sup->pid();
        wait_for_socket(p, *sup);
        r.socket_ms = ms_between(launch, steady::now());
        wait_all_running(p, *sup, opt.containers);
        auto all = steady::now();
        r.all_running_ms = ms_between(launch, all);

        // Memory first, before our own requests make it answer anything.
        auto list = call(p, {{"op", "ps"}})["containers"];
        if (r.wrapped) // the wrapper's child: the parent of any container's PID 1
            for (auto& c : list)
                if (c["pid"].is_number())
                    if (auto parent = parent_of(c["pid"].get<pid_t>())) sup_pid = *parent;
        r.rss_kib = status_kib(sup_pid, "VmRSS:").value_or(-1);
        r.hwm_running_kib = status_kib(sup_pid, "VmHWM:").value_or(-1);

        std::optional<double> first, last;
        std::vector<pid_t> pids;
        for (auto& c : list) {
            if (c.value("state", "") != "running") continue;
            ++r.running;
            auto name = c["name"].get<std::string>();
            if (c["started_at"].is_number()) {
                double at = c["started_at"].get<double>() - launch_wall;
                first = std::min(first.value_or(at), at);
                last = std::max(last.value_or(at), at);
            }
            if (!c["pid"].is_number()) continue;
            auto pid = c["pid"].get<pid_t>();
            pids.push_back(pid);
            pid_namespaces.insert(pid_ns_of(pid));
            auto ip = c["ip"].is_string() ? c["ip"].get<std::string>() : "";
            auto problem = ip.empty() ? std::optional<std::string>("no address in ps")
                                      : check_network(pid, "eth0", ip, p.gateway);
            if (problem)
                r.network_problems.push_back(name + ": " + *problem);
            else
                ++r.network_ok;
        }
        pid_namespaces.erase("");
        if (first) r.first_running_ms = *first;
        if (last) r.last_running_ms = *last;
        if (r.network_ok != opt.containers)
            r.errors.push_back(fmt::format("{} of {} containers had their network when running",
                                           r.network_ok, opt.containers));

        auto traps = steady::now();
        for (auto pid : pids)
            while (!catches(pid, SIGTERM) && steady::now() - traps < 5s) {
                throw_if_interrupted();
                std::this_thread::sleep_for(200us);
            }
        r.trap_wait_ms = ms_between(traps, steady::now());

        // Stop: SIGTERM to the supervisor itself, then its exit (the wrapper's, when wrapped).
        r.hwm_kib = status_kib(sup_pid, "VmHWM:").value_or(r.hwm_running_kib);
        auto term = steady::now();
        ::kill(sup_pid, SIGTERM);
        auto deadline = term + 60s;
        while (!sup->wait_exit(2ms)) {
            if (auto hwm = status_kib(sup_pid, "VmHWM:")) r.hwm_kib = std::max(r.hwm_kib, *hwm);
            if (steady::now() > deadline)
                fail("ctr-supervisor did not exit within 60 s of SIGTERM");
        }
        auto exited = steady::now();
        r.stop_exit_ms = ms_between(term, exited);
        cpu_seconds cpu{};
        r.exit_code = sup->reap(&cpu);
        if (!r.wrapped) {
            r.cpu_self_s = cpu.self;
            r.cpu_children_s = cpu.children;
        }
        if (r.exit_code != 0)
            r.errors.push_back(fmt::format("ctr-supervisor exited with {}", r.exit_code));

        // Clean means: no bridge, no veth, no container process, mount, cgroup or state file.
        auto at_exit = scan(p, pid_namespaces);
        auto left = at_exit;
        while (!left.empty() && steady::now() - exited < linger_limit) {
            std::this_thread::sleep_for(1ms);
            left = scan(p, pid_namespaces);
        }
        if (left.empty()) r.stop_clean_ms = ms_between(term, steady::now());
        if (at_exit.empty()) r.stop_clean_ms = r.stop_exit_ms;
        for (auto& item : at_exit)
            if (std::find(left.begin(), left.end(), item) == left.end()) r.lingered.push_back(item);
        r.leaks = left;
    } catch (const std::exception& e) {
        r.errors.push_back(e.what());
    }
    sup.reset(); // SIGTERM, then SIGKILL, if it still runs

    // Whatever is left is this run's own: remove it.
    auto left = scan(p, pid_namespaces);
    if (!left.empty()) {
        for (auto& l : left)
            if (std::find(r.leaks.begin(), r.leaks.end(), l) == r.leaks.end()) r.leaks.push_back(l);
        kill_processes(processes_in(pid_namespaces));
        std::vector<std::string> stale;
        auto now = links();
        for (auto& port : p.ports)
            if (now.contains(port)) stale.push_back(port);
        if (now.contains(p.bridge)) stale.push_back(p.bridge);
        for (auto& e : delete_links(stale))
            r.errors.push_back("clean-up: " + e);
        for (auto& e : remove_cgroups(cgroups_named(p.network)))
            r.errors.push_back("clean-up: " + e);
    }
    if (!r.ok()) r.log_tail = tail_of(p.log(), 15);
    if (!opt.keep_logs.empty()) {
        std::error_code ec;
        fs::create_directories(opt.keep_logs, ec);
        fs::copy_file(p.log(), opt.keep_logs / "supervisor.log",
                      fs::copy_options::overwrite_existing, ec);
        fs::copy(p.state() / "logs", opt.keep_logs / "containers",
                 fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
    }
    for (auto& e : remove_dir(p.dir))
        r.errors.push_back("clean-up: " + e);
    return r;
}

} // namespace ctr::bench
