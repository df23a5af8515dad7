// Which cgroup hierarchies the host offers, found once at start-up from /proc/self/mountinfo and
// the cgroup2 root's cgroup.controllers. Pure parsing apart from that one file per cgroup2 mount,
// so a fake tree in a temp dir and a mountinfo text naming it exercise all of it.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ctr::cgroup {

enum class version { v1, v2 };
const char* to_string(version v);

// The controllers the supervisor uses. v2 has no cpuacct (cpu.stat counts usage) and freezes
// through cgroup.freeze, so there only the first three matter.
inline constexpr std::array<std::string_view, 5> wanted = {"memory", "pids", "cpu", "cpuacct",
                                                           "freezer"};

// One cgroup or cgroup2 mount, as /proc/self/mountinfo shows it.
struct mount {
    std::filesystem::path point;
    std::string root;                     // the hierarchy's folder the mount shows, "/" mostly
    bool v2 = false;                      // cgroup2
    std::vector<std::string> controllers; // v1: from the super options; v2: filled by probe()
};

// The cgroup and cgroup2 mounts of a mountinfo text, in order (octal escapes decoded).
std::vector<mount> parse_mountinfo(std::string_view text);

// A hierarchy the supervisor makes its folders in.
struct hierarchy {
    std::filesystem::path dir;            // its mount point
    std::string root;                     // as in mount::root
    std::vector<std::string> controllers; // those of `wanted` it carries
    bool has(std::string_view controller) const;
};

struct layout {
    version ver = version::v1;
    // v2: the one cgroup2 hierarchy. v1: one per mounted hierarchy carrying a wanted controller
    // (cpu and cpuacct may share one). Empty when the host has none: nothing is limited.
    std::vector<hierarchy> hierarchies;
    // The hierarchy that carries `controller`, or null.
    const hierarchy* find(std::string_view controller) const;
};

// v2 unless a v1 hierarchy holds memory, pids or cpu: a controller is bound to one hierarchy
// only, so on a hybrid host where v1 has it, the cgroup2 tree lacks it. A first mount of each
// hierarchy wins; a v1 mount without a wanted controller (name=systemd) is not used.
layout choose(const std::vector<mount>& mounts);

// parse_mountinfo, then each cgroup2 mount's controllers from its cgroup.controllers, then
// choose. Throws std::system_error naming a cgroup.controllers that exists but cannot be read.
layout probe(std::string_view mountinfo);
layout probe_host(); // from /proc/self/mountinfo

// A line of /proc/PID/cgroup: "4:memory:/ctr-supervisor/x/web", "0::/x" for cgroup2.
struct membership {
    int id = 0;
    std::vector<std::string> controllers; // empty for cgroup2 (and name= hierarchies)
    std::string path;
};
std::vector<membership> parse_proc_cgroup(std::string_view text);

} // namespace ctr::cgroup
