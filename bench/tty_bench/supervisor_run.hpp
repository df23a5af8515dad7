// One ctr-supervisor run for a phase of tty_bench: a folder of its own (config, socket, state
// dir, the supervisor's log), the supervisor as our child in its own process group, and, when
// the object goes away whatever happened, its shutdown and the removal of everything the run
// made (container processes, cgroups, mounts, the folder).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctr/core/unique_fd.hpp"

namespace ctr::bench {

struct run_settings {
    std::filesystem::path supervisor;
    std::filesystem::path rootfs;
    std::filesystem::path parent_dir; // the run's folder goes here
    std::string log_max_size;         // "" leaves the supervisor's default
    std::string containers;           // [container ...] sections; @ROOTFS@ is replaced
    std::string tag;                  // in every container name: finds what a run left
};

// The supervisor's own counters, summed over its threads.
struct process_counters {
    long long voluntary = 0;   // context switches: it slept (waited for an event)
    long long involuntary = 0; // it was preempted
    long long cpu_ticks = 0;   // utime + stime, in clock ticks
};
double ticks_to_seconds(long long ticks);

class supervisor_run {
  public:
    // Writes the config, has the supervisor check it (dropping log_max_size when this build
    // does not know the key), starts it and waits until its control socket answers.
    explicit supervisor_run(const run_settings& s);
    ~supervisor_run();
    supervisor_run(const supervisor_run&) = delete;
    supervisor_run& operator=(const supervisor_run&) = delete;

    pid_t pid() const { return pid_; }
    const std::filesystem::path& socket() const { return socket_; }
    const std::filesystem::path& state_dir() const { return state_; }
    // False when the config had to go without log_max_size.
    bool log_limit_applied() const { return log_limit_applied_; }

    // One request on a fresh connection, as ctrctl makes it; throws ctr::error when refused.
    nlohmann::json call(const nlohmann::json& request) const;
    // Until every container runs; throws when one failed or exited, or after `limit`.
    void wait_all_running(std::chrono::seconds limit);
    process_counters counters() const;
    // Bytes in the container's log files (NAME.log and its rotated NAME.log.N).
    std::uintmax_t log_bytes(const std::string& container) const;

    // SIGTERM and its exit (containers stopped, state removed); throws unless it exits 0.
    void stop();
    // The end of its log, for a failure report.
    std::string log_tail() const;

  private:
    void kill_and_reap();
    void remove_leftovers();

    std::string tag_;
    std::filesystem::path dir_, socket_, state_, log_;
    pid_t pid_ = -1;
    unique_fd pidfd_;
    bool reaped_ = false;
    bool log_limit_applied_ = true;
    std::set<std::string> pid_namespaces_; // of the containers seen running
};

} // namespace ctr::bench
