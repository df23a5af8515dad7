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

using host::first_line_of;
using host::stat_fields;

using namespace std::chrono_literals;

namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_signal(int sig) {
    g_signal = sig;
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

std::string host_in(const std::string& subnet24, int host) {
    auto c = net::parse_subnet(subnet24);
    return net::to_string(net::ipv4{c.address.value + static_cast<std::uint32_t>(host)});
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

std::vector<fs::path> cgroups_named(std::string_view needle) {
    return host::cgroups_mentioning({std::string(needle)});
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

std::vector<std::string> remove_dir(const fs::path& dir) {
    auto left = host::detach_mounts_under(dir);
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
