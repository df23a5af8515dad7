#include "seed.hpp"

#include "host.hpp"
#include <algorithm>
#include <fcntl.h>
#include <fstream>
#include <random>
#include <sched.h>
#include <set>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctr/core/error.hpp"
#include "ctr/core/unique_fd.hpp"
#include "ctr/sys/files.hpp"

namespace ctr::bench {

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr auto linger_limit = 3s;

struct tools {
    fs::path crun, ip, nsenter;
};

tools find_tools() {
    auto crun = find_program("crun");
    auto ip = find_program("ip");
    auto nsenter = find_program("nsenter");
    if (!crun || !ip || !nsenter) fail("crun, ip or nsenter is missing");
    return {*crun, *ip, *nsenter};
}

struct seed_plan {
    std::string tag;
    std::string bridge, subnet, gateway;
    fs::path dir;
    std::vector<std::string> names, host_ifs, inner_ifs, addresses;
    std::string cgroup_parent; // under each cgroup hierarchy: crun's cgroupsPath parent

    fs::path bundle() const { return dir / "bundle"; }
    fs::path crun_root() const { return dir / "crun-state"; }
    fs::path pid_file(std::size_t i) const { return dir / (names[i] + ".pid"); }
    fs::path log() const { return dir / "commands.log"; }
};

// crun's own template (`crun spec`), changed only where this benchmark needs it: the image
// read-only (it is shared and never written), the same command as the supervisor's
// containers, no terminal, a cgroup namespace as theirs have, no cgroup file system mounted
// inside (theirs have none), and a cgroup path of the run's own.
void write_bundle(const seed_plan& p, const tools& t, const seed_options& opt, int log_fd) {
    sys::make_dirs(p.bundle(), 0700);
    if (int rc = run_command({t.crun.string(), "spec", "-b", p.bundle().string()}, log_fd))
        fail("crun spec exited with {}", rc);
    auto spec = json::parse(sys::read_file(p.bundle() / "config.json").value_or("{}"));
    spec["process"]["terminal"] = false;
    spec["process"]["args"] = opt.args;
    spec["root"] = {{"path", opt.rootfs.string()}, {"readonly", true}};
    auto& mounts = spec["mounts"];
    for (auto it = mounts.begin(); it != mounts.end();)
        it = (*it)["destination"] == "/sys/fs/cgroup" ? mounts.erase(it) : it + 1;
    auto& ns = spec["linux"]["namespaces"];
    bool has_net = false, has_cgroup = false;
    for (auto& n : ns) {
        has_net |= n["type"] == "network";
        has_cgroup |= n["type"] == "cgroup";
    }
    if (!has_net) ns.push_back({{"type", "network"}});
    if (!has_cgroup) ns.push_back({{"type", "cgroup"}});
    std::ofstream(p.bundle() / "config.json") << spec.dump(1);
}

double mean_ms(steady::duration total, int n) {
    return n ? std::chrono::duration<double, std::milli>(total).count() / n : NAN;
}

// Everything the run may have made, removed whatever state it is in; what would not go is
// returned as text.
std::vector<std::string> clean_up(const seed_plan& p, const tools& t, int log_fd,
                                  std::size_t started) {
    std::vector<std::string> left;
    for (std::size_t i = 0; i < started; ++i)
        run_command({t.crun.string(), "--root", p.crun_root().string(), "delete", "-f", p.names[i]},
                    log_fd);
    std::vector<std::string> stale;
    auto now = links();
    for (auto& h : p.host_ifs)
        if (now.contains(h)) stale.push_back(h);
    if (now.contains(p.bridge)) stale.push_back(p.bridge);
    for (auto& e : delete_links(stale))
        left.push_back(e);
    for (auto& e : remove_cgroups(cgroups_named(p.cgroup_parent)))
        left.push_back(e);
    return left;
}

std::vector<std::string> scan(const seed_plan& p, const std::set<std::string>& pid_namespaces) {
    std::vector<std::string> out;
    auto now = links();
    if (now.contains(p.bridge)) out.push_back("bridge " + p.bridge);
    for (auto& h : p.host_ifs)
        if (now.contains(h)) out.push_back("veth " + h);
    for (auto pid : processes_in(pid_namespaces))
        out.push_back(fmt::format("process {}", pid));
    for (auto& name : p.names)
        if (fs::exists(p.crun_root() / name)) out.push_back("crun state of " + name);
    for (auto& c : cgroups_named(p.cgroup_parent))
        if (c.filename() != p.cgroup_parent) out.push_back("cgroup " + c.string());
    return out;
}

// The run itself, in the child: its own mount namespace already.
seed_result run_here(const seed_options& opt, bool workaround) {
    seed_result r;
    r.containers = opt.containers;
    r.workload = opt.workload;
    r.cgroup_workaround = workaround;
    auto t = find_tools();
    std::random_device random;
    seed_plan p;
    p.tag = unique_tag(random());
    p.bridge = "sbbr" + p.tag;
    p.subnet = free_subnet(random());
    p.gateway = host_in(p.subnet, 1);
    p.dir = make_temp_dir(opt.parent_dir, "ctr-bench-crun");
    p.cgroup_parent = "ctr-bench-" + p.tag;
    for (int i = 1; i <= opt.containers; ++i) {
        p.names.push_back(fmt::format("sb{}-{}", p.tag, i));
        p.host_ifs.push_back(fmt::format("sbh{}{}", p.tag, i));
        p.inner_ifs.push_back(fmt::format("sbc{}{}", p.tag, i));
        p.addresses.push_back(host_in(p.subnet, i + 1));
    }
    r.bridge = p.bridge;
    r.subnet = p.subnet;
    unique_fd log(::open(p.log().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!log) throw_errno("open({})", p.log().string());
    const int lf = log.get();
    auto ip = t.ip.string();
    auto must = [&](const std::vector<std::string>& argv) {
        if (int rc = run_command(argv, lf)) {
            std::string cmd;
            for (auto& a : argv)
                cmd += (cmd.empty() ? "" : " ") + a;
            fail("`{}` exited with {}", cmd, rc);
        }
    };

    std::size_t started = 0;
    std::set<std::string> pid_namespaces;
    std::vector<pid_t> pids;
    try {
        write_bundle(p, t, opt, lf);
        auto crun = [&](std::vector<std::string> args) {
            args.insert(args.begin(), {t.crun.string(), "--root", p.crun_root().string()});
            return args;
        };
        steady::duration crun_run{}, host_ip{}, inside_ip{}, veth_add{}, netns_move{}, master_up{};

        auto begin = steady::now();
        must({ip, "link", "add", p.bridge, "type", "bridge"});
        must({ip, "addr", "add", p.gateway + "/24", "dev", p.bridge});
        must({ip, "link", "set", p.bridge, "up"});
        for (std::size_t i = 0; i < p.names.size(); ++i) {
            throw_if_interrupted();
            auto t0 = steady::now();
            ++started; // from here on the clean-up deletes it, whatever happens
            must(crun({"run", "-d", "--bundle", p.bundle().string(), "--pid-file",
                       p.pid_file(i).string(), p.names[i]}));
            auto pid_text = sys::read_file(p.pid_file(i)).value_or("");
            auto pid = static_cast<pid_t>(std::stol(pid_text.empty() ? "0" : pid_text));
            if (pid <= 0) fail("crun wrote no pid for {}", p.names[i]);
            pids.push_back(pid);
            auto t1 = steady::now();
            auto pid_s = std::to_string(pid);
            const auto &h = p.host_ifs[i], &c = p.inner_ifs[i];
            must({ip, "link", "add", h, "type", "veth", "peer", "name", c});
            auto t1a = steady::now();
            must({ip, "link", "set", c, "netns", pid_s});
            auto t1b = steady::now();
            must({ip, "link", "set", h, "master", p.bridge, "up"});
            auto t2 = steady::now();
            veth_add += t1a - t1;
            netns_move += t1b - t1a;
            master_up += t2 - t1b;
            auto in_ns = [&](std::vector<std::string> args) {
                args.insert(args.begin(), {t.nsenter.string(), "-t", pid_s, "-n", ip});
                must(args);
            };
            in_ns({"addr", "add", p.addresses[i] + "/24", "dev", c});
            in_ns({"link", "set", c, "up"});
            in_ns({"route", "add", "default", "via", p.gateway});
            auto t3 = steady::now();
            crun_run += t1 - t0;
            host_ip += t2 - t1;
            inside_ip += t3 - t2;
        }
        r.all_running_ms = ms_between(begin, steady::now());
        int n = opt.containers;
        r.crun_run_ms = mean_ms(crun_run, n);
        r.host_ip_ms = mean_ms(host_ip, n);
        r.inside_ip_ms = mean_ms(inside_ip, n);
        r.veth_add_ms = mean_ms(veth_add, n);
        r.netns_move_ms = mean_ms(netns_move, n);
        r.master_up_ms = mean_ms(master_up, n);

        for (std::size_t i = 0; i < pids.size(); ++i) {
            pid_namespaces.insert(pid_ns_of(pids[i]));
            if (auto problem = check_network(pids[i], p.inner_ifs[i], p.addresses[i], p.gateway))
                r.network_problems.push_back(p.names[i] + ": " + *problem);
            else
                ++r.network_ok;
        }
        pid_namespaces.erase("");

        steady::duration link_del{}, crun_delete{};
        reap_exited_children();
        auto stop = steady::now();
        for (std::size_t i = 0; i < p.names.size(); ++i) {
            auto t0 = steady::now();
            must({ip, "link", "del", p.host_ifs[i]});
            auto t1 = steady::now();
            must(crun({"delete", "-f", p.names[i]}));
            link_del += t1 - t0;
            crun_delete += steady::now() - t1;
        }
        started = 0;
        must({ip, "link", "del", p.bridge});
        auto commands_done = steady::now();
        reap_exited_children();
        auto at_end = scan(p, pid_namespaces);
        auto left = at_end;
        while (!left.empty() && steady::now() - commands_done < linger_limit) {
            std::this_thread::sleep_for(1ms);
            reap_exited_children();
            left = scan(p, pid_namespaces);
        }
        if (left.empty()) r.stop_clean_ms = ms_between(stop, steady::now());
        for (auto& item : at_end)
            if (std::find(left.begin(), left.end(), item) == left.end()) r.lingered.push_back(item);
        r.leaks = left;
        r.link_del_ms = mean_ms(link_del, n);
        r.crun_delete_ms = mean_ms(crun_delete, n);
    } catch (const std::exception& e) {
        r.errors.push_back(e.what());
    }
    for (auto& e : clean_up(p, t, lf, started))
        r.errors.push_back("clean-up: " + e);
    kill_processes(processes_in(pid_namespaces));
    reap_exited_children();
    if (!r.ok()) r.log_tail = tail_of(p.log(), 15);
    log.reset();
    for (auto& e : remove_dir(p.dir))
        r.errors.push_back("clean-up: " + e);
    return r;
}

json number(double v) {
    return std::isnan(v) ? json(nullptr) : json(v);
}
double number(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}

json to_json(const seed_result& r) {
    return {{"containers", r.containers},
            {"workload", r.workload},
            {"bridge", r.bridge},
            {"subnet", r.subnet},
            {"cgroup_workaround", r.cgroup_workaround},
            {"all_running_ms", number(r.all_running_ms)},
            {"stop_clean_ms", number(r.stop_clean_ms)},
            {"network_ok", r.network_ok},
            {"network_problems", r.network_problems},
            {"crun_run_ms", number(r.crun_run_ms)},
            {"host_ip_ms", number(r.host_ip_ms)},
            {"inside_ip_ms", number(r.inside_ip_ms)},
            {"veth_add_ms", number(r.veth_add_ms)},
            {"netns_move_ms", number(r.netns_move_ms)},
            {"master_up_ms", number(r.master_up_ms)},
            {"link_del_ms", number(r.link_del_ms)},
            {"crun_delete_ms", number(r.crun_delete_ms)},
            {"lingered", r.lingered},
            {"leaks", r.leaks},
            {"errors", r.errors},
            {"log_tail", r.log_tail}};
}

seed_result from_json(const json& j) {
    seed_result r;
    r.containers = j.value("containers", 0);
    r.workload = j.value("workload", "");
    r.bridge = j.value("bridge", "");
    r.subnet = j.value("subnet", "");
    r.cgroup_workaround = j.value("cgroup_workaround", false);
    r.all_running_ms = number(j, "all_running_ms");
    r.stop_clean_ms = number(j, "stop_clean_ms");
    r.network_ok = j.value("network_ok", 0);
    r.network_problems = j.value("network_problems", std::vector<std::string>{});
    r.crun_run_ms = number(j, "crun_run_ms");
    r.host_ip_ms = number(j, "host_ip_ms");
    r.inside_ip_ms = number(j, "inside_ip_ms");
    r.veth_add_ms = number(j, "veth_add_ms");
    r.netns_move_ms = number(j, "netns_move_ms");
    r.master_up_ms = number(j, "master_up_ms");
    r.link_del_ms = number(j, "link_del_ms");
    r.crun_delete_ms = number(j, "crun_delete_ms");
    r.lingered = j.value("lingered", std::vector<std::string>{});
    r.leaks = j.value("leaks", std::vector<std::string>{});
    r.errors = j.value("errors", std::vector<std::string>{});
    r.log_tail = j.value("log_tail", "");
    return r;
}

} // namespace

std::optional<std::string> seed_unavailable() {
    for (const char* program : {"crun", "ip", "nsenter"})
        if (!find_program(program)) return fmt::format("{} is not installed", program);
    return std::nullopt;
}

seed_result run_seed(const seed_options& opt) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
    unique_fd read_end(fds[0]), write_end(fds[1]);
    bool workaround = hybrid_cgroups_with_v2_controllers();
    pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork");
    if (pid == 0) {
        read_end.reset();
        seed_result r;
        try {
            // crun and every container it starts live in this mount namespace. On a hybrid
            // host whose cgroup2 holds a controller, crun 1.8 refuses to run ("cgroups in hybrid
            // mode not supported"): here alone, the cgroup2 mount is replaced by an empty tmpfs,
            // so crun sees plain cgroup v1 and the host's cgroups stay as they are.
            if (::unshare(CLONE_NEWNS) != 0) throw_errno("unshare(CLONE_NEWNS)");
            // The containers crun leaves behind become our children, and we reap them as soon
            // as crun delete has killed them, as conmon would; else init reaps them when it
            // gets round to it (seconds, on this kind of host).
            if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) throw_errno("PR_SET_CHILD_SUBREAPER");
            if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
                throw_errno("make / private");
            if (workaround) {
                if (::umount2("/sys/fs/cgroup/unified", MNT_DETACH) != 0)
                    throw_errno("umount /sys/fs/cgroup/unified");
                if (::mount("tmpfs", "/sys/fs/cgroup/unified", "tmpfs", MS_NOSUID | MS_NODEV,
                            "size=1m,mode=755") != 0)
                    throw_errno("mount tmpfs on /sys/fs/cgroup/unified");
            }
            r = run_here(opt, workaround);
        } catch (const std::exception& e) {
            r.errors.push_back(e.what());
        }
        auto text = to_json(r).dump();
        std::size_t done = 0;
        while (done < text.size()) {
            auto n = ::write(write_end.get(), text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            done += static_cast<std::size_t>(n);
        }
        ::_exit(0);
    }
    write_end.reset();
    std::string text;
    char buf[4096];
    for (;;) {
        auto n = ::read(read_end.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue; // a signal: the child cleans up and reports
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    auto j = json::parse(text, nullptr, false);
    if (j.is_discarded()) {
        seed_result r;
        r.containers = opt.containers;
        r.workload = opt.workload;
        r.errors.push_back("the crun run ended without a report");
        return r;
    }
    return from_json(j);
}

} // namespace ctr::bench
