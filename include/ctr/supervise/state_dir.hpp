// The supervisor's state dir: one live supervisor per dir (flock), and what a killed earlier run
// left there is found and removed before anything starts.
#pragma once

#include <filesystem>

#include "ctr/core/unique_fd.hpp"

namespace ctr::supervise {

class state_dir {
  public:
    // Creates the dir (0700), takes its lock and recover()s; throws ctr::error naming the dir
    // when another supervisor holds it.
    explicit state_dir(std::filesystem::path dir);
    state_dir(const state_dir&) = delete;
    state_dir& operator=(const state_dir&) = delete;

    const std::filesystem::path& path() const { return dir_; }
    std::filesystem::path containers() const { return dir_ / "containers"; }

    // Kills any container process a dead run left (matched by pid and start time, so a reused
    // PID is never hit) and removes its overlay and state files. Returns how many it found.
    int recover();
    // At shutdown, once every container has stopped: removes the containers' files and the
    // lock. Logs are kept.
    void clean() noexcept;

  private:
    std::filesystem::path dir_;
    unique_fd lock_;
};

} // namespace ctr::supervise
