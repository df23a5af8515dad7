// One interface over the two cgroup versions; make_driver() picks the implementation the probed
// layout calls for. A driver knows file names and procedures, never container names: it acts on
// a folder `rel`, relative to each hierarchy's mount point, in every hierarchy it uses.
//
//                  v2 (one hierarchy)                 v1 (a hierarchy per controller)
//   memory         memory.max, memory.swap.max = 0    memory.limit_in_bytes (+ memsw the same)
//   pids           pids.max                           pids.max
//   cpu            cpu.max "QUOTA 100000"             cpu.cfs_period_us, cpu.cfs_quota_us
//   usage          memory.current, memory.peak,       memory.usage_in_bytes, .max_usage_in_bytes,
//                  pids.current, cpu.stat usage_usec  pids.current, cpuacct.usage (ns)
//   OOM kills      memory.events oom_kill             memory.oom_control oom_kill (4.13+),
//                                                     else memory.failcnt
//   kill all       cgroup.kill (5.14+)                freezer: freeze, SIGKILL each, thaw
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "ctr/cgroup/probe.hpp"
#include "ctr/core/unique_fd.hpp"

namespace ctr::cgroup {

struct limits {
    std::optional<std::uint64_t> memory;       // bytes
    std::optional<std::uint64_t> pids;         // processes (and threads)
    std::optional<std::uint64_t> cpu_quota_us; // of every cpu_period_us
};
inline constexpr std::uint64_t cpu_period_us = 100'000;

// What stats read; nothing where the host lacks the controller or the knob.
struct stats {
    std::optional<std::uint64_t> memory;      // bytes in use now
    std::optional<std::uint64_t> memory_peak; // the most in use since creation
    std::optional<std::uint64_t> pids;
    std::optional<double> cpu_seconds;
};

// One knob write a limit becomes: `file` in the folder of the hierarchy carrying `controller`.
// An optional one is skipped where the kernel lacks the file (memsw without swap accounting,
// memory.swap.max without swap).
struct setting {
    std::string controller, file, value;
    bool optional = false;
};
// In the order they must be written (v1 refuses a memsw limit below the memory limit).
std::vector<setting> settings_for(version v, const limits& l);

class driver {
  public:
    explicit driver(layout l) : layout_(std::move(l)) {}
    virtual ~driver() = default;
    driver(const driver&) = delete;
    driver& operator=(const driver&) = delete;

    version ver() const { return layout_.ver; }
    const layout& hierarchies() const { return layout_; }
    // The folder `rel` in each hierarchy used.
    std::vector<std::filesystem::path> dirs(const std::filesystem::path& rel) const;

    // Makes `rel` and its missing parents as folders that may have child cgroups (v2: with the
    // controllers enabled below them). "Already there" is success.
    virtual void make_parent(const std::filesystem::path& rel) const = 0;
    // Makes the leaf `rel` under an existing parent. Throws, naming the folder, also when it
    // exists: a leftover must be removed first.
    void make_leaf(const std::filesystem::path& rel) const;
    // Throws ctr::error when a limit needs a controller the host lacks.
    void apply(const std::filesystem::path& rel, const limits& l) const;
    // Moves `pid` into `rel` in every hierarchy.
    void place(const std::filesystem::path& rel, pid_t pid) const;
    // SIGKILLs every process in `rel`, including those forked meanwhile; returns pidfds of the
    // processes it signalled, readable once each has exited. Never waits itself.
    virtual std::vector<unique_fd> kill_all(const std::filesystem::path& rel) const = 0;
    // The pids listed in `rel`'s cgroup.procs, in every hierarchy (each once).
    std::vector<pid_t> procs(const std::filesystem::path& rel) const;
    // `rel` and the folders below it (a container that mounted cgroupfs may make some), in any
    // hierarchy, deepest first: the order rmdir needs.
    std::vector<std::filesystem::path> subtree(const std::filesystem::path& rel) const;
    virtual stats read_stats(const std::filesystem::path& rel) const = 0;
    // How many processes the OOM killer has killed in `rel` so far (v1 without the oom_kill
    // field: how often the limit was hit). 0 without a memory controller.
    virtual std::uint64_t oom_kills(const std::filesystem::path& rel) const = 0;
    // rmdir of subtree(rel) in every hierarchy; "already gone" is success. Non-throwing: 0 or
    // the first errno, with the folder it hit in `failed`.
    int remove(const std::filesystem::path& rel, std::filesystem::path* failed = nullptr) const;

  protected:
    // SIGKILLs each listed process not yet in `signalled` that is still in `rel`; appends the
    // pidfds. Returns how many it newly signalled.
    std::size_t kill_listed(const std::filesystem::path& rel, std::vector<pid_t>& signalled,
                            std::vector<unique_fd>& fds) const;
    // Whether /proc/PID/cgroup puts `pid` in `rel` of hierarchy `h`.
    bool member(pid_t pid, const hierarchy& h, const std::filesystem::path& rel) const;

    layout layout_;
};

// The v2 driver for a v2 layout, else the v1 driver (also for an empty layout).
std::unique_ptr<driver> make_driver(layout l);

// Waits (blocking, poll(2)) until every pidfd is readable or `timeout_ms` passed; whether all
// exited. For start-up and failure paths only: the event loop awaits pidfds instead.
bool wait_exited(const std::vector<unique_fd>& pidfds, int timeout_ms);

} // namespace ctr::cgroup
