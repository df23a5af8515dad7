// What the load test asks the host: which subnet and names are free before the run, what the
// supervisor costs while it runs, and what is left of the run after it (the leak check).
// Read-only except for the clean_* functions, which only ever touch what the caller names.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ctr::loadtest::host {

// A /24 inside 10.200.0.0/13 that overlaps no route of /proc/net/route (the default route
// aside) and no IPv4 address of this host, trying from a place picked by `seed`. Throws when
// there is none.
std::string free_subnet(std::uint32_t seed);

// Names of the links of this network namespace (/sys/class/net).
std::set<std::string> links();
// Names under /run/netns (none when it does not exist).
std::set<std::string> named_netns();
// Lines of /proc/self/mountinfo that mention `needle`.
std::vector<std::string> mounts_mentioning(const std::string& needle);
// readlink /proc/PID/ns/pid ("pid:[4026532...]"); "" when the process is gone.
std::string pid_ns_of(pid_t pid);
// Processes whose pid namespace is one of `namespaces`.
std::vector<pid_t> processes_in(const std::set<std::string>& namespaces);
// Folders under /sys/fs/cgroup whose name contains one of `needles`.
std::vector<std::filesystem::path> cgroups_mentioning(const std::vector<std::string>& needles);

// VmHWM of /proc/PID/status in KiB; nothing when the process has no memory (gone, zombie).
std::optional<long> peak_rss_kib(pid_t pid);
// utime + stime of /proc/PID/stat in seconds (a zombie still has them until it is reaped).
std::optional<double> cpu_seconds(pid_t pid);

// Undo what a leak check found; each returns what it could not remove, as text.
std::vector<std::string> kill_processes(const std::vector<pid_t>& pids);
std::vector<std::string> delete_links(const std::vector<std::string>& names);
std::vector<std::string> detach_mounts_under(const std::filesystem::path& dir);
std::vector<std::string> remove_cgroups(const std::vector<std::filesystem::path>& dirs);

} // namespace ctr::loadtest::host
