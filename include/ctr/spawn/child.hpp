// The container's first process between clone3 and execve.
//
//   parent (supervisor)                        child (new pid/mnt/uts/ipc/net/cgroup ns)
//   -------------------                        -----------------------------------------
//   plan: argv, mounts, capability set,
//   seccomp programs (spawn/security.hpp)
//   userns: detached mounts (userns.hpp)
//   cgroup: made with its limits; its
//   cgroup.procs files opened
//   clone3(CLONE_VM|CLONE_PIDFD|CLONE_NEW*) ▶  setsid; PR_SET_PDEATHSIG(SIGKILL)
//   (pid, mount, UTS, IPC; userns)             write "0" to each cgroup.procs: in its cgroup
//   userns: uid_map, gid_map                   unshare(CLONE_NEWCGROUP | CLONE_NEWNET)
//   (0) network: await the byte ◀──────────── (0) send(sync, 1 byte); unread without a network
//   network: veth into the child's netns       (1) read(sync): blocks until the parent says go;
//   (1) send(sync, 1 byte), close ─────────▶       EOF without the byte: the parent died, _exit
//                                              hostname, lo up, rprivate /; userns: open its
//                                              folder, become root inside, attach the lower;
//                                              overlay; through fds
//                                              resolved inside the root: /proc, /sys, /dev...,
//                                              /etc/hosts, ping_group_range, masked paths,
//                                              read-only paths, `mounts` binds, read-only root;
//                                              pivot_root, detach old root, stdio, workdir,
//                                              signals reset, fds close-on-exec, rlimits,
//                                              bounding set, ambient, no_new_privs, capset,
//                                              seccomp (last: it forbids mounts, needs nnp)
//   (2) read(report) ◀─────────────────────── execve: report is close-on-exec, so EOF = exec'd
//                    ◀─────────────────────── or one failure record, then _exit(125|126|127)
//
// With init = true the child execs ctr-init (tools/ctr-init.cpp) from a sealed memfd instead,
// with the report pipe on fd 3, open across that exec, and every signal blocked. ctr-init forks
// the command, which holds fd 3 close-on-exec: (2) still means the command's own exec or its
// failure record, and ctr-init closes its copy right after the fork.
//
// The child runs only raw system calls: no allocation, no exceptions, no locks, no errno. It
// shares the supervisor's memory until its exec (CLONE_VM, on a stack of its own: no page table
// to copy, no copy-on-write faults), so the plan it reads must stay unchanged, and its stack
// mapped, until the report pipe's EOF (launch.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "ctr/spawn/plan.hpp"

namespace ctr::spawn {

enum class step : std::int32_t {
    wait_parent,
    join_cgroup,     // writing "0" to cgroup.procs; detail: index in plan::cgroup_procs
    make_namespaces, // unshare(CLONE_NEWCGROUP | CLONE_NEWNET)
    set_hostname,
    loopback_up,
    make_private,
    userns_open_dir,     // the container's folder, while the kernel uid is still the host's root
    userns_become_root,  // setresgid, setgroups, setresuid to 0 inside; detail: which
    userns_attach_lower, // move_mount of the id-mapped image onto the folder's "lower"
    mount_overlay,
    open_root,
    make_target,
    open_target,
    fs_open,
    fs_create,
    fs_mount,
    move_mount,
    make_device,
    bind_device,        // userns: a host node bound over an empty file; detail: index in dev_nodes
    set_ping_range,     // write net.ipv4.ping_group_range in the container's netns
    open_masked,        // detail: index in masked_paths
    mask_with_null,     // bind of the container's /dev/null over a masked file
    mask_with_tmpfs,    // an empty read-only tmpfs over a masked folder
    open_readonly_path, // detail: index in readonly_paths
    make_readonly_path, // its bind onto itself, then MOUNT_ATTR_RDONLY
    bind_open_source,   // a `mounts` entry: open_tree of the host path; detail: its index
    bind_set_readonly,  // mount_setattr(MOUNT_ATTR_RDONLY) on the detached bind
    bind_make_target,   // mkdir or creat of a target component inside the root
    bind_open_target,   // opening a target component without following symlinks
    bind_move,          // move_mount of the bind onto its target
    make_root_readonly, // readonly_rootfs: MOUNT_ATTR_RDONLY on the overlay
    pivot_root,
    detach_old_root,
    set_stdio,
    open_terminal,       // /dev/ptmx of the container's devpts, its unlock, its peer (TIOCGPTPEER)
    send_terminal,       // the master to the supervisor over the terminal socket (SCM_RIGHTS)
    set_controlling_tty, // setsid and TIOCSCTTY on the peer
    join_namespaces,     // exec: setns(container's pidfd, ...)
    chdir_workdir,
    reset_signals,
    close_fds,
    set_rlimit,       // RLIMIT_NOFILE
    drop_bounding,    // PR_CAPBSET_DROP; detail: the capability
    clear_ambient,    // PR_CAP_AMBIENT_CLEAR_ALL
    set_no_new_privs, // PR_SET_NO_NEW_PRIVS
    set_capabilities, // capset
    load_seccomp,     // detail: index in plan::seccomp
    exec,             // the command's exec, by this child or, with init = true, by ctr-init's
    prepare_init,     // init = true: the report pipe onto init_report_fd, open across exec
    exec_init,        // execveat of the sealed ctr-init memfd
    init_fork,        // ctr-init's fork of the command
};

// What a failed child writes to the report pipe, in one write.
struct failure {
    step what;
    std::int32_t err;
    std::int32_t detail; // which mount, path, capability or program; -1 when none
};

// Docker's conventions: 127 command not found, 126 not executable, 125 set-up failed.
inline constexpr int exit_setup_failed = 125;
inline constexpr int exit_not_executable = 126;
inline constexpr int exit_not_found = 127;

// More hierarchies than a container's cgroup uses (cgroup/driver.hpp: five with v1, one with v2).
inline constexpr int max_cgroup_hierarchies = 16;

struct child_fds {
    int sync;   // a socket: the parent's go comes in, "namespaces made" goes out
    int report; // write end: a failure record, or EOF at exec
    int stdin_fd, stdout_fd, stderr_fd; // unused with a terminal
    // With a terminal (-1: none): the child opens a PTY from the container's own devpts, sends
    // its master over this socket and makes the peer its controlling terminal and fds 0, 1, 2.
    int terminal_socket = -1;
    // exec only: the container's first process, whose namespaces the child joins.
    int container_pidfd = -1;
    int namespaces = 0; // CLONE_NEW* flags to join
    // A container's first process: cgroup.procs of its cgroup in each hierarchy, opened by the
    // parent, in plan::cgroup_procs order.
    int cgroup_procs[max_cgroup_hierarchies] = {};
    int cgroup_count = 0;
};

[[noreturn]] void run_child(const plan& p, const child_fds& fds) noexcept;
// run_child's entry on a stack of its own (launch.cpp, CLONE_VM): `start` is a child_start
// stored in that stack's memory, which the parent does not touch until the child has exec'd.
struct child_start {
    const plan* p;
    child_fds fds;
};
[[noreturn]] void run_child_from(void* start) noexcept;
// A process in a running container (`ctrctl exec`): joins its namespaces (the parent has set
// its pid namespace for children already), then the same stdio, privileges and exec as
// run_child. Only the plan's command, workdir, rlimits and privileges are used.
[[noreturn]] void run_exec_child(const plan& p, const child_fds& fds) noexcept;

// The failure as a message from the parent's copy of the plan:
// `exec "/bin/nosuch": No such file or directory`.
std::string describe(const failure& f, const plan& p);

} // namespace ctr::spawn
