// The same work done the seed README's way: `crun run -d` per container, then one `ip` process
// per network step (the veth made on the host and moved into the container's namespace), and
// `ip link del` + `crun delete -f` per container to clean, one container after the other.
#pragma once

#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ctr::bench {

struct seed_options {
    int containers = 0;
    std::filesystem::path parent_dir; // the run's folder (bundle, crun's state, logs) goes here
    std::filesystem::path rootfs;
    std::vector<std::string> args; // every container's process.args (workload.hpp)
    std::string workload;          // its name, recorded in the result
};

struct seed_result {
    static constexpr double none = NAN;
    int containers = 0;
    std::string workload;
    std::string bridge;
    std::string subnet;
    bool cgroup_workaround = false; // crun ran in a mount namespace hiding the hybrid cgroup2
    double all_running_ms = none;   // first command -> the last container's default route added
    double stop_clean_ms = none;    // first clean-up command -> bridge deleted, all checked gone
    int network_ok = 0;
    std::vector<std::string> network_problems;
    // Mean per container, in ms, of each part:
    double crun_run_ms = none; // crun run -d
    double host_ip_ms = none;  // ip link add (veth pair), ip link set netns, ip link set master up
    double veth_add_ms = none; // of which: ip link add (veth pair)
    double netns_move_ms = none;       //           ip link set netns
    double master_up_ms = none;        //           ip link set master up
    double inside_ip_ms = none;        // nsenter -n ip: addr add, link set up, route add default
    double link_del_ms = none;         // ip link del (host end)
    double crun_delete_ms = none;      // crun delete -f
    std::vector<std::string> lingered; // still there right after the last command, gone later
    std::vector<std::string> leaks;
    std::vector<std::string> errors;
    std::string log_tail;

    bool ok() const { return errors.empty() && leaks.empty(); }
};

// Why this part cannot run here (crun, ip or nsenter missing), or nothing.
std::optional<std::string> seed_unavailable();

// Runs in a child process in its own mount namespace (where, on a hybrid cgroup host, crun 1.8's
// refusal is worked around without touching the host's cgroups), which reports back as JSON.
seed_result run_seed(const seed_options& opt);

} // namespace ctr::bench
