// Parent side of a container's birth: clone3 into new namespaces, then hand the child its go.
#pragma once

#include <sys/types.h>

#include "ctr/core/unique_fd.hpp"
#include "ctr/spawn/plan.hpp"

namespace ctr::spawn {

struct stdio_fds {
    int in = -1, out = -1, err = -1; // borrowed; the child dup2s them onto 0, 1, 2
    // Instead: a PTY allocated by the child inside the container, its master sent back.
    bool terminal = false;
};

// A child that exists but waits at sync point 1. Destroying it unreleased kills and reaps it, so a
// failure anywhere in the parent's set-up leaves no process behind.
class launched {
  public:
    launched(pid_t pid, unique_fd pidfd, unique_fd sync, unique_fd report, unique_fd terminal);
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
        unique_fd terminal; // with stdio_fds::terminal: where the master arrives before exec
    };
    running release();

  private:
    pid_t pid_;
    unique_fd pidfd_, sync_, report_, terminal_;
};

// clone3 with CLONE_PIDFD and new pid, mount, UTS, IPC, network and cgroup namespaces; with
// p.userns a new user namespace too, whose id maps are written before this returns.
launched launch(const plan& p, const stdio_fds& stdio);

// A new process in the namespaces of the running container whose first process is
// `container_pidfd` (`namespaces`: the CLONE_NEW* flags to join, CLONE_NEWPID included). The
// supervisor enters the container's pid namespace for its children just for the clone, so the
// process is ours to wait for, yet a process of the container.
launched launch_exec(const plan& p, const stdio_fds& stdio, int container_pidfd, int namespaces);

// The master the child sent over `terminal` (a launched::running's), once it exec'd. Throws
// ctr::error when none came.
unique_fd receive_terminal(int terminal);

} // namespace ctr::spawn
