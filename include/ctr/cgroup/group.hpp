// One container's cgroup, owned for one run: made with its limits before the container's first
// process may run, removed when the run ends. Destroying one that was not removed kills what is
// left in it and removes it, so a failure half-way through a start leaves no folder behind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

#include "ctr/cgroup/driver.hpp"
#include "ctr/core/unique_fd.hpp"

namespace ctr::cgroup {

class group {
  public:
    // Takes over the freshly made folder `rel`; reads the OOM counter it starts from. Shares the
    // driver, so a group outliving the supervisor's tree (a coroutine frame destroyed late)
    // still cleans up.
    group(std::shared_ptr<const driver> d, std::filesystem::path rel);
    group(group&& o) noexcept;
    group& operator=(group&&) = delete;
    group(const group&) = delete;
    ~group();

    const std::filesystem::path& path() const { return rel_; }
    std::vector<std::filesystem::path> dirs() const { return d_->dirs(rel_); }

    void place(pid_t pid) const { d_->place(rel_, pid); }
    // SIGKILLs every process in it; pidfds of those signalled (see driver::kill_all).
    std::vector<unique_fd> kill_all() const { return d_->kill_all(rel_); }
    std::vector<pid_t> procs() const { return d_->procs(rel_); }
    stats read_stats() const { return d_->read_stats(rel_); }
    // The OOM killer killed a process of it since it was made.
    bool oom_killed() const;
    // Removes its folders; throws std::system_error naming the one that would not go (EBUSY:
    // processes are still in it). Once removed, the destructor has nothing left to do.
    void remove();

  private:
    std::shared_ptr<const driver> d_;
    std::filesystem::path rel_;
    std::uint64_t oom_base_ = 0;
    bool owned_ = true;
};

} // namespace ctr::cgroup
