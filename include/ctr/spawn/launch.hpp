// Parent side of a container's birth: clone3 into new namespaces, then hand the child its go.
#pragma once

#include <sys/types.h>

#include "ctr/core/unique_fd.hpp"
#include "ctr/spawn/plan.hpp"

namespace ctr::spawn {

struct stdio_fds {
    int in, out, err; // borrowed; the child dup2s them onto 0, 1, 2
};

// A child that exists but waits at sync point 1. Destroying it unreleased kills and reaps it, so a
// failure anywhere in the parent's set-up leaves no process behind.
class launched {
  public:
    launched(pid_t pid, unique_fd pidfd, unique_fd sync, unique_fd report);
    launched(launched&&) noexcept = default;
    launched& operator=(launched&&) noexcept = delete;
    ~launched();

    pid_t pid() const { return pid_; }
    int pidfd() const { return pidfd_.get(); }
    int report_fd() const { return report_.get(); }
    // Sync point 1: lets the child run on to exec. Returns the report pipe's read end (EOF once
    // the child exec'd, a failure record otherwise) and gives up the kill-on-destroy guard,
    // handing the pidfd to the caller.
    struct running {
        unique_fd pidfd;
        unique_fd report;
    };
    running release();

  private:
    pid_t pid_;
    unique_fd pidfd_, sync_, report_;
};

// clone3 with CLONE_PIDFD and new pid, mount, UTS, IPC, network and cgroup namespaces; with
// p.userns a new user namespace too, whose id maps are written before this returns.
launched launch(const plan& p, const stdio_fds& stdio);

} // namespace ctr::spawn
