// The supervisor's own part of each cgroup hierarchy: ctr-supervisor/<hash of its state dir>,
// under the hierarchy's root, with one child folder per running container. The hash keeps two
// supervisors (two state dirs) apart, and lets the next run on the same state dir find and
// clear what a killed run left.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "ctr/cgroup/driver.hpp"
#include "ctr/cgroup/group.hpp"

namespace ctr::cgroup {

inline constexpr const char* top_folder = "ctr-supervisor";

// "ctr-supervisor/0123456789abcdef": FNV-1a of the state dir's absolute, normal path, stable
// across builds and runs.
std::filesystem::path parent_for(const std::filesystem::path& state_dir);

class tree {
  public:
    // Makes the parent in every hierarchy of `d`. Throws std::system_error naming the folder.
    tree(std::shared_ptr<driver> d, std::filesystem::path parent);
    // Probes the host (probe_host) for the driver; parent_for(state_dir).
    explicit tree(const std::filesystem::path& state_dir);
    tree(const tree&) = delete;
    tree& operator=(const tree&) = delete;
    // Removes the parent, and ctr-supervisor when no other supervisor uses it. Non-throwing.
    ~tree();

    const driver& drv() const { return *d_; }
    const std::filesystem::path& parent() const { return parent_; }

    // Makes the container's folder with its limits. A folder of that name left behind (a run
    // whose removal failed) is emptied and removed first. Throws std::system_error naming the
    // file, or ctr::error for a limit the host cannot enforce.
    group create(const std::string& name, const limits& l);
    // Kills the processes of, and removes, every folder under the parent: what a killed earlier
    // run on the same state dir left. Waits up to `timeout_ms` for the killed processes to go.
    // Returns how many folders it found; throws naming one that would not go.
    int clean_leftovers(int timeout_ms = 5000);

  private:
    std::shared_ptr<driver> d_;
    std::filesystem::path parent_;
};

} // namespace ctr::cgroup
