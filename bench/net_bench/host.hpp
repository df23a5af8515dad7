// What the benchmark asks of the host and does to it beyond what it shares with the load test
// (tools/host/host.hpp): signals, names, file systems, the network seen from outside, and the one
// way it runs other programs (crun, ip, nsenter). It only ever removes what the caller names.
#pragma once

#include "host/host.hpp"
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace ctr::bench {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

inline double ms_between(steady::time_point from, steady::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

// SIGINT, SIGTERM and SIGHUP only set a flag (no SA_RESTART): every wait checks it, and the
// run in progress cleans up before the benchmark exits with 128 + the signal.
void install_signal_handlers();
int pending_signal();
void throw_if_interrupted();

// Shared with tools/loadtest (tools/host/host.hpp).
using host::cpu_of;
using host::cpu_seconds;
using host::default_rootfs;
using host::delete_links;
using host::free_subnet;
using host::kill_processes;
using host::links;
using host::mounts_mentioning;
using host::own_dir;
using host::pid_ns_of;
using host::processes_in;
using host::reap_exited_children;
using host::remove_cgroups;
using host::status_kib;

// "10.201.7.0/24" -> the address of host number `host` in it ("10.201.7.<host>").
std::string host_in(const std::string& subnet24, int host);
// 6 random hex digits not found in any link name: a prefix no one else uses.
std::string unique_tag(std::uint32_t seed);

// The file system `path` lives on: "tmpfs", "ext4", ... (statfs), "?" when unknown.
std::string fs_type(const fs::path& path);
// mkdtemp(parent/prefix-XXXXXX).
fs::path make_temp_dir(const fs::path& parent, std::string_view prefix);

// Whether process `pid` has a handler for `sig` (SigCgt of /proc/PID/status).
bool catches(pid_t pid, int sig);
// Field 4 of /proc/PID/stat.
std::optional<pid_t> parent_of(pid_t pid);
// Cgroup folders (three levels deep at most) whose name contains `needle`.
std::vector<fs::path> cgroups_named(std::string_view needle);
// Hybrid cgroups (v1 controllers plus a cgroup2 at /sys/fs/cgroup/unified holding a
// controller): crun 1.8 refuses to run there.
bool hybrid_cgroups_with_v2_controllers();

// Checks, from outside, that process `pid`'s network namespace has `ifname` up with `address`
// and a default route via `gateway` on it. Returns what is missing, or nothing when all is there.
std::optional<std::string> check_network(pid_t pid, const std::string& ifname,
                                         const std::string& address, const std::string& gateway);

// Runs `argv` (argv[0] an absolute path) in its own process group, stdin from /dev/null,
// stdout and stderr appended to `log_fd`, and waits for it. Returns its exit code, or 128+N
// when signal N ended it.
int run_command(const std::vector<std::string>& argv, int log_fd);
// The absolute path of `program` in $PATH (and the sbin folders), or nothing.
std::optional<fs::path> find_program(std::string_view program);

// Lazily detaches mounts under `dir` in this mount namespace, then removes the tree.
std::vector<std::string> remove_dir(const fs::path& dir);

// The last `lines` lines of a text file.
std::string tail_of(const fs::path& file, std::size_t lines);
// Median of the values; NaN for none.
double median(std::vector<double> v);

} // namespace ctr::bench
