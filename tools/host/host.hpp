// What the load test and the benchmark ask of the host, and the only things they do to it: free
// names and subnets and the busybox image before a run, a process's memory and CPU during it, and
// what is left of the run after it (the leak check) with its removal. Read-only except for the
// removal functions, which only ever touch what the caller names. Built into the tools alone, never
// into ctr_core: the supervisor does not look at the host this way.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace ctr::host {

// A /24 inside 10.200.0.0/13 that overlaps no route of /proc/net/route (the default route
// aside), no IPv4 address of this host and none of `avoid` (CIDRs), searched from a place picked
// by `seed`. Throws when there is none.
std::string free_subnet(std::uint32_t seed, const std::vector<std::string>& avoid = {});

// Names of this network namespace's links (/sys/class/net).
std::set<std::string> links();
// Names under /run/netns (none when it does not exist).
std::set<std::string> named_netns();
// Lines of /proc/self/mountinfo that mention `needle`.
std::vector<std::string> mounts_mentioning(std::string_view needle);
// readlink /proc/PID/ns/pid ("pid:[4026532...]"); "" when the process is gone.
std::string pid_ns_of(pid_t pid);
// Processes whose pid namespace is one of `namespaces`.
std::vector<pid_t> processes_in(const std::set<std::string>& namespaces);
// Folders at most `max_depth` levels under each /sys/fs/cgroup/<hierarchy>/ whose name contains
// one of `needles` (the supervisor's are three deep: ctr-supervisor/<state dir hash>/<name>).
std::vector<std::filesystem::path> cgroups_mentioning(const std::vector<std::string>& needles,
                                                      int max_depth = 3);

// A "Vm...:" line of /proc/PID/status ("VmHWM:") in KiB; nothing once the process has no
// memory (gone, or a zombie).
std::optional<long> status_kib(pid_t pid, std::string_view key);
// The first line of `file` that starts with `key` ("" when none).
std::string first_line_of(const std::filesystem::path& file, std::string_view key);
// The fields of /proc/PID/stat after "(comm)"; [0] is field 3 (state). Empty when gone.
std::vector<std::string> stat_fields(pid_t pid);
// utime+stime of the process itself, and of its reaped children, from /proc/PID/stat (a zombie
// still shows them until it is reaped).
struct cpu_seconds {
    double self = 0;
    double children = 0;
};
std::optional<cpu_seconds> cpu_of(pid_t pid);

// The folder of the running program (/proc/self/exe): where the build put ctr-supervisor too.
std::filesystem::path own_dir();
// The busybox image a tool runs when no --rootfs is given: assets/rootfs/busybox beside the build
// folder, else the source tree's (CTR_DEFAULT_ROOTFS, set at build time). Throws, saying how to
// make it, when neither holds bin/busybox.
std::filesystem::path default_rootfs();

// Reaps every child that has exited, without waiting (a subreaper's orphans).
void reap_exited_children();

// Removal, for whatever a run left: each returns what it could not remove, as text.
// kill_processes waits (up to 2 s) until they are gone, reaping those that are our children.
std::vector<std::string> kill_processes(const std::vector<pid_t>& pids);
std::vector<std::string> delete_links(const std::vector<std::string>& names);
// Lazily detaches the mounts under `dir` in this mount namespace, deepest first.
std::vector<std::string> detach_mounts_under(const std::filesystem::path& dir);
std::vector<std::string> remove_cgroups(std::vector<std::filesystem::path> dirs);

} // namespace ctr::host
