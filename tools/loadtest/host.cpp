#include "host.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <sstream>
#include <sys/mount.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "ctr/net/netlink.hpp"

namespace ctr::loadtest::host {

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

std::string first_line_of(const fs::path& file, std::string_view key) {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);)
        if (line.starts_with(key)) return line;
    return {};
}

} // namespace

std::string free_subnet(std::uint32_t seed) {
    constexpr std::uint32_t base = (10u << 24) | (200u << 16); // 10.200.0.0/13
    constexpr std::uint32_t count = 1u << (24 - 13);           // its /24s
    auto taken = taken_prefixes();
    for (std::uint32_t i = 0; i < count; ++i) {
        prefix candidate{base + ((seed + i) % count << 8), mask_of(24)};
        bool free = std::none_of(taken.begin(), taken.end(),
                                 [&](const prefix& t) { return overlap(t, candidate); });
        if (free)
            return fmt::format("{}.{}.{}.0/24", candidate.network >> 24,
                               candidate.network >> 16 & 0xff, candidate.network >> 8 & 0xff);
    }
    throw std::runtime_error("no /24 of 10.200.0.0/13 is free on this host");
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

std::vector<std::string> mounts_mentioning(const std::string& needle) {
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
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        auto pid = static_cast<pid_t>(std::stol(name));
        if (namespaces.contains(pid_ns_of(pid))) out.push_back(pid);
    }
    return out;
}

std::vector<fs::path> cgroups_mentioning(const std::vector<std::string>& needles) {
    std::vector<fs::path> out;
    std::error_code ec;
    fs::recursive_directory_iterator it("/sys/fs/cgroup",
                                        fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_directory(ec)) continue;
        auto name = it->path().filename().string();
        for (auto& n : needles)
            if (!n.empty() && name.find(n) != std::string::npos) {
                out.push_back(it->path());
                break;
            }
    }
    return out;
}

std::optional<long> peak_rss_kib(pid_t pid) {
    auto line = first_line_of(fmt::format("/proc/{}/status", pid), "VmHWM:");
    if (line.empty()) return std::nullopt;
    return std::stol(line.substr(line.find_first_of("0123456789")));
}

std::optional<double> cpu_seconds(pid_t pid) {
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The command name may hold spaces and parentheses: fields count from the last ')'.
    auto close = stat.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream fields(stat.substr(close + 1));
    std::string skip;
    for (int field = 3; field <= 13; ++field) // state .. cmajflt
        fields >> skip;
    unsigned long long utime = 0, stime = 0;
    if (!(fields >> utime >> stime)) return std::nullopt;
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::vector<std::string> kill_processes(const std::vector<pid_t>& pids) {
    std::vector<std::string> failed;
    for (auto pid : pids)
        if (::kill(pid, SIGKILL) != 0 && errno != ESRCH)
            failed.push_back(fmt::format("process {}: kill: {}", pid, std::strerror(errno)));
    // Reaped by their parent (the supervisor is gone: init, or us for direct children).
    std::this_thread::sleep_for(100ms);
    return failed;
}

std::vector<std::string> delete_links(const std::vector<std::string>& names) {
    std::vector<std::string> failed;
    if (names.empty()) return failed;
    net::netlink nl;
    for (auto& n : names)
        if (int err = nl.try_delete_link(n))
            failed.push_back(fmt::format("link {}: delete: {}", n, std::strerror(err)));
    return failed;
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
    std::vector<std::string> failed;
    for (auto& p : points)
        if (::umount2(p.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
            failed.push_back(fmt::format("mount {}: umount: {}", p, std::strerror(errno)));
    return failed;
}

std::vector<std::string> remove_cgroups(const std::vector<fs::path>& dirs) {
    std::vector<std::string> failed;
    // Children before parents: the longest paths first.
    auto sorted = dirs;
    std::sort(sorted.begin(), sorted.end(),
              [](auto& a, auto& b) { return a.native().size() > b.native().size(); });
    for (auto& d : sorted)
        if (::rmdir(d.c_str()) != 0 && errno != ENOENT)
            failed.push_back(fmt::format("cgroup {}: rmdir: {}", d.string(), std::strerror(errno)));
    return failed;
}

} // namespace ctr::loadtest::host
