// One timed run of ctr-supervisor: N replicas on one bridge of their own, from launching the
// supervisor to all of them running with their network ready, then from SIGTERM to its exit
// with nothing left behind.
#pragma once

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

namespace ctr::bench {

struct ours_options {
    int containers = 0;
    std::filesystem::path parent_dir; // the run's folder (config, socket, state dir, log) goes here
    std::filesystem::path supervisor;
    std::filesystem::path rootfs;
    std::string command;  // every container's (workload.hpp): it must exit at once on SIGTERM
    std::string workload; // its name, recorded in the result
    std::string log_level = "info";
    std::filesystem::path keep_logs; // when not empty: copy supervisor.log and the containers'
                                     // logs (state/logs) into this folder
    std::vector<std::string> wrap;   // run the supervisor under this (strace -f -c -o F, ...)
};

struct ours_result {
    static constexpr double none = NAN;
    int containers = 0;
    std::string workload; // "pause", "busybox"
    std::string state_fs; // file system of the state dir: "tmpfs", "ext4", ...
    std::string state_dir;
    std::string bridge;
    std::string subnet;
    // From the moment just before fork+exec of ctr-supervisor:
    double socket_ms = none;        // its control socket accepts a connection
    double first_running_ms = none; // the first container's started_at (supervisor's clock, ms)
    double last_running_ms = none;  // the last one's started_at
    double all_running_ms = none;   // a `wait --state running` on all of them is answered
    int running = 0;
    int network_ok = 0; // containers whose eth0, address and default route were seen from outside
    std::vector<std::string> network_problems;
    // After the timing: until every container's command had its SIGTERM trap in place (the
    // PID 1 of a pid namespace ignores a signal it has no handler for, so a SIGTERM sent before
    // would only end it at the stop_timeout).
    double trap_wait_ms = none;
    long rss_kib = -1;         // VmRSS when all run
    long hwm_running_kib = -1; // VmHWM then
    long hwm_kib = -1;         // VmHWM last read before its exit: the run's peak
    // From the moment just before SIGTERM:
    double stop_exit_ms = none; // ctr-supervisor exited
    double stop_clean_ms =
        none; // nothing of the run is left (the exit, or later if something lingered)
    std::vector<std::string> lingered; // there at its exit, gone by itself shortly after
    std::vector<std::string> leaks; // still there after the linger limit (the bench removed them)
    double cpu_self_s = none;       // its own user+system CPU
    double cpu_children_s = none;   // its reaped children's: the containers, set-up included
    int exit_code = -1;
    bool wrapped = false; // run under --wrap: RSS and CPU are not the supervisor's alone
    std::vector<std::string> errors;
    std::string log_tail; // the end of its log when something failed

    bool ok() const { return errors.empty() && leaks.empty(); }
};

ours_result run_ours(const ours_options& opt);

} // namespace ctr::bench
