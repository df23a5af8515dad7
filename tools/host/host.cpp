#include "host/host.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <sys/mount.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "ctr/core/error.hpp"
#include "ctr/net/cidr.hpp"
#include "ctr/net/netlink.hpp"
#include "ctr/sys/files.hpp"

namespace ctr::host {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct prefix {
    std::uint32_t network; // host byte order
    std::uint32_t mask;
};

std::uint32_t mask_of(int len) {
    return len == 0 ? 0 : ~std::uint32_t{0} << (32 - len);
}

bool overlap(prefix a, prefix b) {
    auto m = a.mask & b.mask; // the shorter of the two masks
    return (a.network & m) == (b.network & m);
}

// Everything already routed or addressed here. The default route covers every address and is
// left out: a subnet of our own bridge beats it, like any more specific route.
std::vector<prefix> taken_prefixes() {
    std::vector<prefix> out;
    std::ifstream routes("/proc/net/route");
    std::string line;
    std::getline(routes, line); // header
    while (std::getline(routes, line)) {
        std::istringstream fields(line);
        std::string iface, dest, gateway, flags, refcnt, use, metric, mask;
        if (!(fields >> iface >> dest >> gateway >> flags >> refcnt >> use >> metric >> mask))
            continue;
        // The kernel prints the address as stored (network order) through %08X.
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

bool is_number(const std::string& s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool alive(pid_t pid) {
    return ::kill(pid, 0) == 0 && fs::exists(fmt::format("/proc/{}/ns", pid));
}

} // namespace

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
    std::istringstream in(text->substr(close + 1));
    std::vector<std::string> out;
    for (std::string f; in >> f;)
        out.push_back(f);
    return out; // out[0] is field 3 (state)
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

std::set<std::string> links() {
    std::set<std::string> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/sys/class/net", ec))
        out.insert(e.path().filename().string());
    return out;
}

std::set<std::string> named_netns() {
    std::set<std::string> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/run/netns", ec))
        out.insert(e.path().filename().string());
    return out;
}

std::vector<std::string> mounts_mentioning(std::string_view needle) {
    std::vector<std::string> out;
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);)
        if (line.find(needle) != std::string::npos) out.push_back(line);
    return out;
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
        if (!is_number(name)) continue;
        auto pid = static_cast<pid_t>(std::stol(name));
        if (namespaces.contains(pid_ns_of(pid))) out.push_back(pid);
    }
    return out;
}

std::vector<fs::path> cgroups_mentioning(const std::vector<std::string>& needles, int max_depth) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (auto& h : fs::directory_iterator("/sys/fs/cgroup", ec)) {
        std::error_code ec2;
        if (!h.is_directory(ec2)) continue;
        fs::recursive_directory_iterator it(h.path(), fs::directory_options::skip_permission_denied,
                                            ec2);
        for (; !ec2 && it != fs::recursive_directory_iterator(); it.increment(ec2)) {
            if (it.depth() >= max_depth) it.disable_recursion_pending();
            std::error_code ec3;
            if (!it->is_directory(ec3)) continue;
            auto name = it->path().filename().string();
            if (std::any_of(needles.begin(), needles.end(), [&](auto& n) {
                    return !n.empty() && name.find(n) != std::string::npos;
                }))
                out.push_back(it->path());
        }
    }
    return out;
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

fs::path own_dir() {
    return fs::read_symlink("/proc/self/exe").parent_path();
}

fs::path default_rootfs() {
    // No #ifdef: CMakeLists.txt sets CTR_DEFAULT_ROOTFS on ctr_host itself, for every build.
    const fs::path built_in = CTR_DEFAULT_ROOTFS;
    for (const fs::path& c : {own_dir() / "../assets/rootfs/busybox", built_in})
        if (fs::exists(c / "bin/busybox")) return fs::canonical(c);
    throw std::runtime_error(
        fmt::format("no busybox image at {}: build it with tools/ctr-rootfs busybox "
                    "assets/rootfs/busybox, or pass --rootfs",
                    built_in.lexically_normal().string()));
}

void reap_exited_children() {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
}

std::vector<std::string> kill_processes(const std::vector<pid_t>& pids) {
    std::vector<std::string> left;
    for (auto pid : pids)
        if (::kill(pid, SIGKILL) != 0 && errno != ESRCH)
            left.push_back(fmt::format("process {}: kill: {}", pid, std::strerror(errno)));
    auto deadline = std::chrono::steady_clock::now() + 2s;
    for (auto pid : pids) {
        while (alive(pid) && std::chrono::steady_clock::now() < deadline) {
            reap_exited_children(); // those of them that are ours (a subreaper's orphans)
            std::this_thread::sleep_for(5ms);
        }
        if (alive(pid)) left.push_back(fmt::format("process {}: still there", pid));
    }
    return left;
}

std::vector<std::string> delete_links(const std::vector<std::string>& names) {
    std::vector<std::string> left;
    if (names.empty()) return left;
    net::netlink nl;
    for (auto& n : names)
        if (int err = nl.try_delete_link(n))
            left.push_back(fmt::format("link {}: delete: {}", n, std::strerror(err)));
    return left;
}

std::vector<std::string> detach_mounts_under(const fs::path& dir) {
    // Deepest first, so a mount is not hidden under one detached before it.
    std::vector<std::string> points;
    for (auto& line : mounts_mentioning(dir.string())) {
        std::istringstream fields(line);
        std::string id, parent, dev, root, point;
        if (fields >> id >> parent >> dev >> root >> point && point.starts_with(dir.string()))
            points.push_back(point);
    }
    std::sort(points.begin(), points.end(), [](auto& a, auto& b) { return a.size() > b.size(); });
    std::vector<std::string> left;
    for (auto& p : points)
        if (::umount2(p.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
            left.push_back(fmt::format("mount {}: umount: {}", p, std::strerror(errno)));
    return left;
}

std::vector<std::string> remove_cgroups(std::vector<fs::path> dirs) {
    // Children before parents: the longest paths first.
    std::sort(dirs.begin(), dirs.end(),
              [](auto& a, auto& b) { return a.native().size() > b.native().size(); });
    std::vector<std::string> left;
    for (auto& d : dirs)
        if (::rmdir(d.c_str()) != 0 && errno != ENOENT)
            left.push_back(fmt::format("cgroup {}: rmdir: {}", d.string(), std::strerror(errno)));
    return left;
}

} // namespace ctr::host
