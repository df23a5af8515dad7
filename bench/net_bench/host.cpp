#include "host.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <ifaddrs.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "ctr/core/error.hpp"
#include "ctr/core/unique_fd.hpp"
#include "ctr/net/cidr.hpp"
#include "ctr/net/netlink.hpp"
#include "ctr/sys/files.hpp"

extern char** environ;

namespace ctr::bench {

using namespace std::chrono_literals;

namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_signal(int sig) {
    g_signal = sig;
}

struct prefix {
    std::uint32_t network; // host byte order
    std::uint32_t mask;
};

std::uint32_t mask_of(int len) {
    return len == 0 ? 0 : ~std::uint32_t{0} << (32 - len);
}

bool overlap(prefix a, prefix b) {
    auto m = a.mask & b.mask;
    return (a.network & m) == (b.network & m);
}

// Everything routed or addressed on this host now. The default route is left out: a bridge's
// own /24 beats it, as any more specific route does.
std::vector<prefix> taken_prefixes() {
    std::vector<prefix> out;
    std::ifstream routes("/proc/net/route");
    std::string line;
    std::getline(routes, line);
    while (std::getline(routes, line)) {
        std::istringstream fields(line);
        std::string iface, dest, gateway, flags, refcnt, use, metric, mask;
        if (!(fields >> iface >> dest >> gateway >> flags >> refcnt >> use >> metric >> mask))
            continue;
        auto d = ntohl(static_cast<std::uint32_t>(std::stoul(dest, nullptr, 16)));
        auto m = ntohl(static_cast<std::uint32_t>(std::stoul(mask, nullptr, 16)));
        if (m != 0) out.push_back({d & m, m});
    }
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) == 0) {
        for (auto* a = list; a; a = a->ifa_next) {
            if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || !a->ifa_netmask) continue;
            auto addr = ntohl(reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr);
            auto m = ntohl(reinterpret_cast<sockaddr_in*>(a->ifa_netmask)->sin_addr.s_addr);
            out.push_back({addr & m, m});
            out.push_back({addr, ~std::uint32_t{0}});
        }
        ::freeifaddrs(list);
    }
    return out;
}

std::string first_line_of(const fs::path& file, std::string_view key) {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);)
        if (line.starts_with(key)) return line;
    return {};
}

// The fields of /proc/PID/stat after "(comm)", which may itself hold spaces and parentheses.
std::vector<std::string> stat_fields(pid_t pid) {
    auto text = sys::read_file(fmt::format("/proc/{}/stat", pid));
    if (!text) return {};
    auto close = text->rfind(')');
    if (close == std::string::npos) return {};
    std::istringstream in(text->substr(close + 2));
    std::vector<std::string> out;
    for (std::string f; in >> f;)
        out.push_back(f);
    return out; // out[0] is field 3 (state)
}

} // namespace

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP})
        ::sigaction(sig, &sa, nullptr);
}

int pending_signal() {
    return g_signal;
}

void throw_if_interrupted() {
    if (g_signal) fail("interrupted by signal {}", static_cast<int>(g_signal));
}

std::string free_subnet(std::uint32_t seed, const std::vector<std::string>& avoid) {
    constexpr std::uint32_t base = (10u << 24) | (200u << 16); // 10.200.0.0/13
    constexpr std::uint32_t count = 1u << (24 - 13);           // its /24s
    auto taken = taken_prefixes();
    for (auto& a : avoid) {
        auto c = net::parse_subnet(a);
        taken.push_back({c.address.value, mask_of(c.prefix)});
    }
    for (std::uint32_t i = 0; i < count; ++i) {
        prefix candidate{base + ((seed + i) % count << 8), mask_of(24)};
        if (std::none_of(taken.begin(), taken.end(),
                         [&](const prefix& t) { return overlap(t, candidate); }))
            return fmt::format("{}.{}.{}.0/24", candidate.network >> 24,
                               candidate.network >> 16 & 0xff, candidate.network >> 8 & 0xff);
    }
    fail("no /24 of 10.200.0.0/13 is free on this host");
}

std::string host_in(const std::string& subnet24, int host) {
    auto c = net::parse_subnet(subnet24);
    return net::to_string(net::ipv4{c.address.value + static_cast<std::uint32_t>(host)});
}

std::set<std::string> links() {
    std::set<std::string> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/sys/class/net", ec))
        out.insert(e.path().filename().string());
    return out;
}

std::string unique_tag(std::uint32_t seed) {
    auto now = links();
    for (std::uint32_t i = 0;; ++i) {
        auto tag = fmt::format("{:06x}", (seed + i * 0x9e3779b9u) & 0xffffff);
        if (std::none_of(now.begin(), now.end(),
                         [&](auto& l) { return l.find(tag) != std::string::npos; }))
            return tag;
    }
}

std::string fs_type(const fs::path& path) {
    struct statfs st {};
    if (::statfs(path.c_str(), &st) != 0) return "?";
    switch (static_cast<unsigned long>(st.f_type)) {
    case TMPFS_MAGIC:
        return "tmpfs";
    case EXT4_SUPER_MAGIC: // also ext2/ext3
        return "ext4";
    case XFS_SUPER_MAGIC:
        return "xfs";
    case BTRFS_SUPER_MAGIC:
        return "btrfs";
    case OVERLAYFS_SUPER_MAGIC:
        return "overlay";
    default:
        return fmt::format("0x{:x}", static_cast<unsigned long>(st.f_type));
    }
}

fs::path make_temp_dir(const fs::path& parent, std::string_view prefix) {
    sys::make_dirs(parent, 0755);
    std::string templ = (parent / fmt::format("{}-XXXXXX", prefix)).string();
    if (!::mkdtemp(templ.data())) throw_errno("mkdtemp({})", templ);
    return templ;
}

std::optional<long> status_kib(pid_t pid, std::string_view key) {
    auto line = first_line_of(fmt::format("/proc/{}/status", pid), key);
    if (line.empty()) return std::nullopt;
    std::istringstream in(line.substr(key.size()));
    long kib = 0;
    if (!(in >> kib)) return std::nullopt;
    return kib;
}

std::optional<cpu_seconds> cpu_of(pid_t pid) {
    auto f = stat_fields(pid);
    if (f.size() < 15) return std::nullopt; // utime is field 14, f[11]
    auto tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    cpu_seconds c;
    c.self = (std::stod(f[11]) + std::stod(f[12])) / tick;
    c.children = (std::stod(f[13]) + std::stod(f[14])) / tick;
    return c;
}

bool catches(pid_t pid, int sig) {
    auto line = first_line_of(fmt::format("/proc/{}/status", pid), "SigCgt:");
    if (line.empty()) return false;
    auto mask = std::stoull(line.substr(7), nullptr, 16);
    return (mask >> (sig - 1) & 1) != 0;
}

std::optional<pid_t> parent_of(pid_t pid) {
    auto f = stat_fields(pid);
    if (f.size() < 2) return std::nullopt;
    return static_cast<pid_t>(std::stol(f[1]));
}

std::string pid_ns_of(pid_t pid) {
    std::error_code ec;
    auto target = fs::read_symlink(fmt::format("/proc/{}/ns/pid", pid), ec);
    return ec ? "" : target.string();
}

std::vector<pid_t> processes_in(const std::set<std::string>& namespaces) {
    std::vector<pid_t> out;
    if (namespaces.empty()) return out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/proc", ec)) {
        auto name = e.path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
        auto pid = static_cast<pid_t>(std::stol(name));
        if (namespaces.contains(pid_ns_of(pid))) out.push_back(pid);
    }
    return out;
}

std::vector<std::string> mounts_mentioning(std::string_view needle) {
    std::vector<std::string> out;
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);)
        if (line.find(needle) != std::string::npos) out.push_back(line);
    return out;
}

std::vector<fs::path> cgroups_named(std::string_view needle) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (auto& h : fs::directory_iterator("/sys/fs/cgroup", ec)) {
        std::error_code ec2;
        auto it = fs::recursive_directory_iterator(h.path(), ec2);
        for (; !ec2 && it != fs::recursive_directory_iterator(); it.increment(ec2)) {
            if (it.depth() >= 3) it.disable_recursion_pending();
            std::error_code ec3;
            if (!it->is_directory(ec3)) continue;
            if (it->path().filename().string().find(needle) != std::string::npos)
                out.push_back(it->path());
        }
    }
    return out;
}

bool hybrid_cgroups_with_v2_controllers() {
    struct statfs st {};
    if (::statfs("/sys/fs/cgroup/unified", &st) != 0 ||
        static_cast<unsigned long>(st.f_type) != CGROUP2_SUPER_MAGIC)
        return false;
    auto controllers = sys::read_file("/sys/fs/cgroup/unified/cgroup.controllers").value_or("");
    return controllers.find_first_not_of(" \n") != std::string::npos;
}

std::optional<std::string> check_network(pid_t pid, const std::string& ifname,
                                         const std::string& address, const std::string& gateway) {
    unique_fd ns;
    try {
        ns = sys::open_file(fmt::format("/proc/{}/ns/net", pid), O_RDONLY);
    } catch (const std::exception& e) {
        return e.what();
    }
    auto inside = net::netlink::in_namespace(ns.get()).links();
    auto l = std::find_if(inside.begin(), inside.end(), [&](auto& x) { return x.name == ifname; });
    if (l == inside.end()) return fmt::format("no {} in its namespace", ifname);
    if (!l->up) return fmt::format("{} is down", ifname);
    auto want = net::parse_ipv4(address);
    if (std::none_of(l->addresses.begin(), l->addresses.end(),
                     [&](auto& a) { return a.address.value == want.value; }))
        return fmt::format("{} lacks {}", ifname, address);
    // The routing table of the namespace `pid` is in.
    std::ifstream routes(fmt::format("/proc/{}/net/route", pid));
    std::string line;
    std::getline(routes, line);
    auto gw_hex = fmt::format("{:08X}", htonl(net::parse_ipv4(gateway).value));
    while (std::getline(routes, line)) {
        std::istringstream f(line);
        std::string iface, dest, gw;
        if (f >> iface >> dest >> gw && iface == ifname && dest == "00000000" && gw == gw_hex)
            return std::nullopt;
    }
    return fmt::format("no default route via {} on {}", gateway, ifname);
}

int run_command(const std::vector<std::string>& argv, int log_fd) {
    std::vector<char*> args;
    for (auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawnattr_init(&attr);
    ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_adddup2(&actions, log_fd, 1);
    ::posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
    // Its own process group: a Ctrl-C meant for the benchmark does not reach the containers
    // crun starts, which the clean-up still has to find and delete.
    ::posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    ::posix_spawnattr_setsigmask(&attr, &none);
    ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    pid_t pid = 0;
    int err = ::posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attr);
    if (err) throw_sys(err, fmt::format("posix_spawn({})", argv[0]));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) throw_errno("waitpid({})", pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::optional<fs::path> find_program(std::string_view program) {
    std::string path = ::getenv("PATH") ? ::getenv("PATH") : "";
    path += ":/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin";
    std::istringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');) {
        if (dir.empty()) continue;
        fs::path candidate = fs::path(dir) / program;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return std::nullopt;
}

void reap_exited_children() {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
}

std::vector<std::string> kill_processes(const std::vector<pid_t>& pids) {
    for (auto pid : pids)
        ::kill(pid, SIGKILL);
    std::vector<std::string> left;
    auto deadline = steady::now() + 2s;
    for (auto pid : pids) {
        while (::kill(pid, 0) == 0 && fs::exists(fmt::format("/proc/{}/ns", pid)) &&
               steady::now() < deadline) {
            reap_exited_children(); // those of them that are ours (a subreaper's orphans)
            std::this_thread::sleep_for(5ms);
        }
        if (::kill(pid, 0) == 0 && fs::exists(fmt::format("/proc/{}/ns", pid)))
            left.push_back(fmt::format("process {}", pid));
    }
    return left;
}

std::vector<std::string> delete_links(const std::vector<std::string>& names) {
    std::vector<std::string> left;
    if (names.empty()) return left;
    net::netlink nl;
    for (auto& n : names)
        if (int err = nl.try_delete_link(n))
            left.push_back(fmt::format("link {}: {}", n, std::strerror(err)));
    return left;
}

std::vector<std::string> remove_cgroups(std::vector<fs::path> dirs) {
    // Deepest first: a cgroup folder goes only once it has no children.
    std::sort(dirs.begin(), dirs.end(),
              [](auto& a, auto& b) { return a.string().size() > b.string().size(); });
    std::vector<std::string> left;
    for (auto& d : dirs)
        if (::rmdir(d.c_str()) != 0 && errno != ENOENT)
            left.push_back(fmt::format("cgroup {}: {}", d.string(), std::strerror(errno)));
    return left;
}

std::vector<std::string> remove_dir(const fs::path& dir) {
    std::vector<std::string> left;
    for (auto& line : mounts_mentioning(dir.string())) {
        std::istringstream f(line);
        std::string id, parent, devs, root, mount_point;
        if (f >> id >> parent >> devs >> root >> mount_point &&
            mount_point.starts_with(dir.string()))
            ::umount2(mount_point.c_str(), MNT_DETACH);
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) left.push_back(fmt::format("{}: {}", dir.string(), ec.message()));
    return left;
}

std::string tail_of(const fs::path& file, std::size_t lines) {
    std::ifstream in(file);
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);)
        all.push_back(std::move(line));
    std::string out;
    for (auto i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
        out += all[i] + "\n";
    return out;
}

double median(std::vector<double> v) {
    std::erase_if(v, [](double x) { return std::isnan(x); });
    if (v.empty()) return std::nan("");
    std::sort(v.begin(), v.end());
    auto n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

} // namespace ctr::bench
