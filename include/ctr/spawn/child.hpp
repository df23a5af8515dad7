// The container's first process between clone3 and execve.
//
//   parent (supervisor)                        child (new pid/mnt/uts/ipc/net/cgroup ns)
//   -------------------                        -----------------------------------------
//   clone3(CLONE_PIDFD | CLONE_NEW*) ───────▶  setsid; PR_SET_PDEATHSIG(SIGKILL)
//   [cgroup, network: later issues]            (1) read(sync): blocks until the parent says go;
//   (1) write(sync, 1 byte), close ────────▶       EOF without the byte: the parent died, _exit
//                                              hostname, lo up, rprivate /, overlay, mounts
//                                              through fds resolved inside the root, pivot_root,
//                                              detach old root, stdio, workdir, signals reset
//   (2) read(report) ◀─────────────────────── execve: report is close-on-exec, so EOF = exec'd
//                    ◀─────────────────────── or one failure record, then _exit(125|126|127)
//
// The child runs only async-signal-safe calls: no allocation, no exceptions, no locks.
#pragma once

#include <cstdint>
#include <string>

#include "ctr/spawn/plan.hpp"

namespace ctr::spawn {

enum class step : std::int32_t {
    wait_parent,
    set_hostname,
    loopback_up,
    make_private,
    mount_overlay,
    open_root,
    make_target,
    open_target,
    fs_open,
    fs_create,
    fs_mount,
    move_mount,
    make_device,
    pivot_root,
    detach_old_root,
    set_stdio,
    chdir_workdir,
    reset_signals,
    close_fds,
    exec,
};

// What a failed child writes to the report pipe, in one write.
struct failure {
    step what;
    std::int32_t err;
    std::int32_t detail; // index into the mount table for mount steps
};

// Docker's conventions: 127 command not found, 126 not executable, 125 set-up failed.
inline constexpr int exit_setup_failed = 125;
inline constexpr int exit_not_executable = 126;
inline constexpr int exit_not_found = 127;

struct child_fds {
    int sync;   // read end: the parent's go
    int report; // write end: a failure record, or EOF at exec
    int stdin_fd, stdout_fd, stderr_fd;
};

[[noreturn]] void run_child(const plan& p, const child_fds& fds) noexcept;

// The failure as a message from the parent's copy of the plan:
// `exec "/bin/nosuch": No such file or directory`.
std::string describe(const failure& f, const plan& p);

} // namespace ctr::spawn
