// Starts containers: a bounded number in flight at once (starting 50 must not take 50 times one,
// nor fork 50 at the same instant), each waited for until exec or its set-up failure.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include <asio/awaitable.hpp>

#include "ctr/cgroup/tree.hpp"
#include "ctr/config/config.hpp"
#include "ctr/spawn/plan.hpp"
#include "ctr/supervise/child_process.hpp"
#include "ctr/supervise/networks.hpp"
#include "ctr/supervise/notifier.hpp"

namespace ctr::supervise {

struct spawn_result {
    // The container's cgroup, which its first process entered before its command ran; the
    // lifecycle holds it for the run and removes it once that process is reaped. Declared
    // first, so dropping a result kills and reaps the child before its cgroup goes.
    std::optional<cgroup::group> cgroup;
    child_process child;
    std::string setup_error; // empty when the command was exec'd
};

class spawner {
  public:
    // `nets` (may be null: no networks) gives networked containers their port before they run.
    // Probes the host's cgroups and clears the cgroups a killed earlier run on the same state
    // dir left; throws when the supervisor's cgroup folders cannot be made.
    spawner(asio::any_io_executor ex, std::filesystem::path state_dir, networks* nets,
            int max_in_flight = 16);

    // Throws ctr::error / std::system_error when no process could be made at all.
    asio::awaitable<spawn_result> start(const config::container& c);

    // The container's first process has been reaped: release what its run held.
    void finished(const std::string& name);

    spawn::overlay_paths paths(const std::string& name) const;
    std::filesystem::path containers_dir() const { return state_dir_ / "containers"; }
    std::filesystem::path log_file(const std::string& name) const;

  private:
    // The user namespace that images are id-mapped through, made at the first `userns = true`
    // start and kept: every such container shares the [supervisor] range.
    int mapping_userns(const config::id_range& r);
    struct mapping {
        config::id_range range;
        unique_fd userns;
    };
    std::optional<mapping> mapping_;

    asio::any_io_executor ex_;
    std::filesystem::path state_dir_;
    networks* nets_;
    cgroup::tree cgroups_;
    int free_;
    notifier slot_freed_;
    std::chrono::seconds setup_deadline_{10};
};

} // namespace ctr::supervise
