// Parent side of a container's birth: clone3 into new namespaces, then hand the child its go.
#pragma once

#include <cstddef>
#include <sys/types.h>

#include "ctr/core/unique_fd.hpp"
#include "ctr/spawn/plan.hpp"

namespace ctr::spawn {

struct stdio_fds {
    int in = -1, out = -1, err = -1; // borrowed; the child dup2s them onto 0, 1, 2
    // Instead: a PTY allocated by the child inside the container, its master sent back.
    bool terminal = false;
};

// The memory a CLONE_VM child runs on until its exec: its stack, and its child_start at the top.
// Unmapped only once the child no longer uses it: after its exec or its death, i.e. at the
// report pipe's EOF, or once it has been reaped.
class child_stack {
  public:
    child_stack() = default;
    explicit child_stack(std::size_t size);
    child_stack(child_stack&& o) noexcept;
    child_stack& operator=(child_stack&& o) noexcept;
    ~child_stack();

    void* base() const { return base_; }
    std::size_t size() const { return size_; }

  private:
    void* base_ = nullptr;
    std::size_t size_ = 0;
};

// A child that exists and has not passed sync point 1 (child.hpp). Destroying it unreleased kills
// and reaps it, so a failure anywhere in the parent's set-up leaves no process behind.
class launched {
  public:
    launched(pid_t pid, unique_fd pidfd, unique_fd sync, unique_fd report, unique_fd terminal,
             child_stack stack = {});
    launched(launched&&) noexcept = default;
    launched& operator=(launched&&) noexcept = delete;
    ~launched();

    pid_t pid() const { return pid_; }
    int pidfd() const { return pidfd_.get(); }
    int report_fd() const { return report_.get(); }
    // Readable once the child made its network and cgroup namespaces (a byte), or died (EOF).
    int sync_fd() const { return sync_.get(); }
    // Sync point 1: lets the child run on to exec. Returns the report pipe's read end (EOF once
    // the child exec'd, a failure record otherwise) and gives up the kill-on-destroy guard,
    // handing the pidfd to the caller.
    struct running {
        unique_fd pidfd;
        unique_fd report;
        unique_fd terminal; // with stdio_fds::terminal: where the master arrives before exec
        // Keep it, and the plan, until the report pipe's EOF (also after a failure record, which
        // the child writes just before it exits), or until the child is reaped.
        child_stack stack;
        // The child was gone before its go (killed during set-up: an OOM kill in its cgroup,
        // say), so it cannot have exec'd, whatever its report pipe says.
        bool died_before_go = false;
    };
    running release();

  private:
    child_stack stack_; // first: freed last, after the destructor has reaped the child
    pid_t pid_;
    unique_fd pidfd_, sync_, report_, terminal_;
};

// clone3 with CLONE_PIDFD and new pid, mount, UTS, IPC namespaces; with p.userns a new user
// namespace too, whose id maps are written before this returns. The child joins the cgroup of
// p.cgroup_procs and makes its network and cgroup namespaces itself, then says so on sync_fd(). On
// x86_64 the child shares our memory (CLONE_VM) on a stack of its own until it execs, as
// posix_spawn's does: `p` must stay alive and unchanged until the report pipe's EOF (see
// running::stack).
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
