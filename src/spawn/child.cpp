// Runs in the freshly cloned child. Only raw system calls from here to execve (raw_syscall.hpp:
// the child shares the supervisor's memory, errno included): the parent built every string
// beforehand, and every failure leaves as one {step, errno, detail} record. Built without
// sanitizers: their checks would write to the supervisor's shadow memory from this stack.
#include "ctr/spawn/child.hpp"

#include "raw_syscall.hpp"
#include <fcntl.h>
#include <iterator>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "ctr/spawn/init_image.hpp"
#include "ctr/spawn/mount_table.hpp"
#include "ctr/spawn/security.hpp"

namespace ctr::spawn {
namespace {

using raw::err;
using raw::sys;

[[noreturn]] void die(int fd, step s, int err, int detail = -1) noexcept {
    failure f{s, err, detail};
    sys(SYS_write, fd, &f, sizeof f);
    int code = exit_setup_failed;
    if (s == step::exec)
        code = (err == ENOENT || err == ENOTDIR) ? exit_not_found : exit_not_executable;
    raw::exit_group(code);
}

int close(int fd) noexcept {
    return static_cast<int>(sys(SYS_close, fd));
}
int openat(int dirfd, const char* path, int flags, unsigned mode = 0) noexcept {
    return static_cast<int>(sys(SYS_openat, dirfd, path, flags | O_CLOEXEC, mode));
}
// dup2 without SYS_dup2, which some architectures lack; the fds it gets never coincide.
int dup2(int from, int to) noexcept {
    return from == to ? to : static_cast<int>(sys(SYS_dup3, from, to, 0));
}
int fcntl(int fd, int cmd, long arg) noexcept {
    return static_cast<int>(sys(SYS_fcntl, fd, cmd, arg));
}
int ioctl(int fd, unsigned long request, long arg) noexcept {
    return static_cast<int>(sys(SYS_ioctl, fd, request, arg));
}
int attach_mount(int tree, int target) noexcept {
    return static_cast<int>(sys(SYS_move_mount, tree, "", target, "",
                                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
}
int fsopen(const char* type) noexcept {
    return static_cast<int>(sys(SYS_fsopen, type, FSOPEN_CLOEXEC));
}
int fsconfig(int fs, unsigned cmd, const char* key, const char* value) noexcept {
    return static_cast<int>(sys(SYS_fsconfig, fs, cmd, key, value, 0));
}
int fsmount(int fs, unsigned attr) noexcept {
    return static_cast<int>(sys(SYS_fsmount, fs, FSMOUNT_CLOEXEC, attr));
}
int open_tree(int dirfd, const char* path, unsigned flags) noexcept {
    return static_cast<int>(sys(SYS_open_tree, dirfd, path, flags | OPEN_TREE_CLOEXEC));
}
int set_mask(int how, std::uint64_t mask) noexcept {
    return static_cast<int>(sys(SYS_rt_sigprocmask, how, &mask, nullptr, sizeof mask));
}

// Resolves `path` below `dirfd` as if dirfd were "/", refusing every symlink: a container that
// planted `/proc -> /` in its overlay gets an error, never a mount on the host's path.
int resolve_inside(int dirfd, const char* path, int flags) noexcept {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return static_cast<int>(sys(SYS_openat2, dirfd, path, &how, sizeof how));
}

int open_inside(int dirfd, const char* path, bool directory = true) noexcept {
    return resolve_inside(dirfd, path, O_PATH | (directory ? O_DIRECTORY : 0));
}

int set_mount_attr(int tree, unsigned attr, unsigned flags) noexcept {
    mount_attr a{};
    a.attr_set = attr;
    return static_cast<int>(sys(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | flags, &a, sizeof a));
}

void loopback_up(int report) noexcept {
    int s = static_cast<int>(sys(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (s < 0) die(report, step::loopback_up, -s);
    ifreq ifr{};
    ::memcpy(ifr.ifr_name, "lo", 3);
    if (int r = ioctl(s, SIOCGIFFLAGS, raw::arg(&ifr))) die(report, step::loopback_up, -r);
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (int r = ioctl(s, SIOCSIFFLAGS, raw::arg(&ifr))) die(report, step::loopback_up, -r);
    close(s);
}

// In a user namespace mknod is refused: the host's nodes, cloned by the parent, are bound over
// empty files instead, as rootless crun does.
void bind_devices(const plan& p, int devfd, int report) noexcept {
    for (int i = 0; i < static_cast<int>(std::size(dev_nodes)); ++i) {
        const char* name = dev_nodes[i].name;
        int made = openat(devfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0666);
        if (made < 0) die(report, step::bind_device, -made, i);
        close(made);
        int target = open_inside(devfd, name, false);
        if (target < 0) die(report, step::bind_device, -target, i);
        if (int r = attach_mount(p.userns.devices[i], target))
            die(report, step::bind_device, -r, i);
        close(target);
    }
}

void make_devices(const plan& p, int devfd, int report, int index) noexcept {
    if (p.userns.enabled)
        bind_devices(p, devfd, report);
    else
        for (const auto& d : dev_nodes) {
            if (long r = sys(SYS_mknodat, devfd, d.name, S_IFCHR | 0666, makedev(d.major, d.minor)))
                die(report, step::make_device, err(r), index);
        }
    for (const auto& l : dev_links) {
        if (long r = sys(SYS_symlinkat, l.target, devfd, l.name))
            die(report, step::make_device, err(r), index);
    }
}

void mount_one(const plan& p, int rootfd, int index, int report) noexcept {
    const mount_spec& m = mount_table[index];
    int parent = open_inside(rootfd, m.parent);
    if (parent < 0) die(report, step::open_target, -parent, index);
    if (long r = sys(SYS_mkdirat, parent, m.leaf, m.dir_mode); r != 0 && r != -EEXIST)
        die(report, step::make_target, err(r), index);
    int target = open_inside(parent, m.leaf);
    if (target < 0) die(report, step::open_target, -target, index);

    int fs = fsopen(m.fstype);
    if (fs < 0) die(report, step::fs_open, -fs, index);
    for (const auto& opt : m.options) {
        if (!opt.key) break;
        int r = opt.value ? fsconfig(fs, FSCONFIG_SET_STRING, opt.key, opt.value)
                          : fsconfig(fs, FSCONFIG_SET_FLAG, opt.key, nullptr);
        if (r != 0) die(report, step::fs_create, -r, index);
    }
    if (int r = fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr))
        die(report, step::fs_create, -r, index);
    int mnt = fsmount(fs, m.attr);
    if (mnt < 0) die(report, step::fs_mount, -mnt, index);
    if (int r = attach_mount(mnt, target)) die(report, step::move_mount, -r, index);
    if (m.is_dev) make_devices(p, mnt, report, index);
    close(mnt);
    close(fs);
    close(target);
    close(parent);
}

// Binds the supervisor's file for this container (its /etc/hosts) over one inside the root. The
// target, and its folder, are created when missing (an image with nothing but a static binary,
// as Docker allows), in the overlay's upper layer; like every mount point, never reached through
// a symlink. Only when missing: opening the image's file for writing would copy it up.
void bind_file(int rootfd, const bind_spec& b, int index, int report) noexcept {
    int dir = open_inside(rootfd, b.parent);
    if (dir == -ENOENT) {
        if (long r = sys(SYS_mkdirat, rootfd, b.parent, 0755); r != 0 && r != -EEXIST)
            die(report, step::make_target, err(r), index);
        dir = open_inside(rootfd, b.parent);
    }
    if (dir < 0) die(report, step::open_target, -dir, index);
    int target = open_inside(dir, b.leaf, false);
    if (target == -ENOENT) {
        int made = openat(dir, b.leaf, O_WRONLY | O_CREAT | O_NOFOLLOW, 0644);
        if (made < 0) die(report, step::make_target, -made, index);
        close(made);
        target = open_inside(dir, b.leaf, false);
    }
    if (target < 0) die(report, step::open_target, -target, index);
    int source = b.tree >= 0 ? b.tree : open_tree(AT_FDCWD, b.source, OPEN_TREE_CLONE);
    if (source < 0) die(report, step::fs_mount, -source, index);
    if (int r = attach_mount(source, target)) die(report, step::move_mount, -r, index);
    close(source);
    close(target);
    close(dir);
}

// A `mounts` entry. The host path is resolved in the host's view (still ours before pivot_root);
// the target, inside the root, one component at a time so that no symlink is ever followed.
void bind_user_mount(int rootfd, const plan& p, int index, int report) noexcept {
    const user_mount& m = p.mounts[static_cast<std::size_t>(index)];
    // With a user namespace the parent cloned it, read-only already where asked.
    int source =
        m.tree >= 0 ? m.tree : open_tree(AT_FDCWD, m.source, OPEN_TREE_CLONE | AT_RECURSIVE);
    if (source < 0) die(report, step::bind_open_source, -source, index);
    if (m.tree < 0 && m.readonly)
        if (int r = set_mount_attr(source, MOUNT_ATTR_RDONLY, AT_RECURSIVE))
            die(report, step::bind_set_readonly, -r, index);

    int dir = rootfd;
    for (std::size_t i = 0; i < m.parts; ++i) {
        const char* part = p.mount_parts[m.first_part + i];
        bool last = i + 1 == m.parts;
        bool want_dir = !last || m.source_is_dir;
        if (want_dir) {
            if (long r = sys(SYS_mkdirat, dir, part, 0755); r != 0 && r != -EEXIST)
                die(report, step::bind_make_target, err(r), index);
        } else {
            int made = openat(dir, part, O_RDONLY | O_CREAT | O_NOFOLLOW, 0644);
            if (made < 0) die(report, step::bind_make_target, -made, index);
            close(made);
        }
        int next = open_inside(dir, part, want_dir);
        if (next < 0) die(report, step::bind_open_target, -next, index);
        if (dir != rootfd) close(dir);
        dir = next;
    }
    if (int r = attach_mount(source, dir)) die(report, step::bind_move, -r, index);
    close(dir);
    close(source);
}

// Docker's net.ipv4.ping_group_range. The file belongs to the opener's network namespace: ours.
void set_ping_range(const plan& p, int rootfd, int report) noexcept {
    int fd = resolve_inside(rootfd, ping_group_range_path, O_WRONLY);
    if (fd < 0) die(report, step::set_ping_range, -fd);
    auto len = p.ping_range.size();
    if (long r = sys(SYS_write, fd, p.ping_range.data(), len); r != static_cast<long>(len))
        die(report, step::set_ping_range, r < 0 ? err(r) : EIO);
    close(fd);
}

void mask_paths(int rootfd, int report) noexcept {
    int null = open_inside(rootfd, "dev/null", false);
    if (null < 0) die(report, step::mask_with_null, -null, -1);
    for (int i = 0; i < masked_paths_size; ++i) {
        int target = resolve_inside(rootfd, masked_paths[i], O_PATH);
        if (target == -ENOENT) continue;
        if (target < 0) die(report, step::open_masked, -target, i);
        struct stat st {};
        if (long r = sys(SYS_newfstatat, target, "", &st, AT_EMPTY_PATH))
            die(report, step::open_masked, err(r), i);
        if (S_ISDIR(st.st_mode)) {
            int fs = fsopen("tmpfs");
            if (fs < 0) die(report, step::mask_with_tmpfs, -fs, i);
            if (int r = fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr))
                die(report, step::mask_with_tmpfs, -r, i);
            int mnt = fsmount(fs, MOUNT_ATTR_RDONLY | nosuid_nodev_noexec);
            if (mnt < 0) die(report, step::mask_with_tmpfs, -mnt, i);
            if (int r = attach_mount(mnt, target)) die(report, step::mask_with_tmpfs, -r, i);
            close(mnt);
            close(fs);
        } else {
            int tree = open_tree(null, "", OPEN_TREE_CLONE | AT_EMPTY_PATH);
            if (tree < 0) die(report, step::mask_with_null, -tree, i);
            if (int r = attach_mount(tree, target)) die(report, step::mask_with_null, -r, i);
            close(tree);
        }
        close(target);
    }
    close(null);
}

void make_paths_readonly(int rootfd, int report) noexcept {
    for (int i = 0; i < readonly_paths_size; ++i) {
        int target = resolve_inside(rootfd, readonly_paths[i], O_PATH);
        if (target == -ENOENT) continue;
        if (target < 0) die(report, step::open_readonly_path, -target, i);
        int tree = open_tree(target, "", OPEN_TREE_CLONE | AT_EMPTY_PATH | AT_RECURSIVE);
        if (tree < 0) die(report, step::make_readonly_path, -tree, i);
        int r = set_mount_attr(tree, MOUNT_ATTR_RDONLY | nosuid_nodev_noexec, AT_RECURSIVE);
        if (r == 0) r = attach_mount(tree, target);
        if (r != 0) die(report, step::make_readonly_path, -r, i);
        close(tree);
        close(target);
    }
}

// Capabilities and seccomp, last before exec. The bounding set goes first (dropping needs
// CAP_SETPCAP, which capset may take away); no_new_privs before the filter, which then needs no
// CAP_SYS_ADMIN; the filter after every mount and capset, the calls it may refuse.
void drop_privileges(const plan& p, int report) noexcept {
    for (int cap = 0; cap <= p.last_capability; ++cap) {
        if ((p.capabilities >> cap & 1) != 0) continue;
        if (long r = sys(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0))
            die(report, step::drop_bounding, err(r), cap);
    }
    if (long r = sys(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))
        die(report, step::clear_ambient, err(r));
    if (long r = sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        die(report, step::set_no_new_privs, err(r));
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; ++i) {
        auto word = static_cast<std::uint32_t>(p.capabilities >> (32 * i));
        data[i].effective = data[i].permitted = word; // inheritable stays empty
    }
    if (long r = sys(SYS_capset, &header, data)) die(report, step::set_capabilities, err(r));
    for (std::size_t i = 0; i < p.seccomp.size(); ++i) {
        const bpf_program& program = p.seccomp[i];
        sock_fprog prog{static_cast<unsigned short>(program.size()),
                        const_cast<sock_filter*>(program.data())};
        if (long r = sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
            die(report, step::load_seccomp, err(r), static_cast<int>(i));
    }
}

// `userns = true`, right after sync point 1 (the maps are written). Until setresuid the kernel
// uid is still the host's root, unmapped here: owner permission bits let it open the container's
// folder, however deep in root-only folders; from then on it is the namespace's root (host uid
// base), with full capabilities over its own namespaces only, and the folder is its working
// directory, from which it reaches lower, upper, work and merged (the folder is 0711).
void become_namespace_root(const plan& p, int report) noexcept {
    int dir = openat(AT_FDCWD, p.userns.dir.c_str(), O_PATH | O_DIRECTORY);
    if (dir < 0) die(report, step::userns_open_dir, -dir);
    if (long r = sys(SYS_setresgid, 0, 0, 0)) die(report, step::userns_become_root, err(r), 0);
    if (long r = sys(SYS_setgroups, 0, nullptr)) die(report, step::userns_become_root, err(r), 1);
    if (long r = sys(SYS_setresuid, 0, 0, 0)) die(report, step::userns_become_root, err(r), 2);
    // A change of credentials clears the parent-death signal: arm it again, then make sure the
    // parent did not die in between (its end of the report pipe would be closed).
    if (long r = sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0))
        die(report, step::wait_parent, err(r));
    pollfd alive{report, 0, 0};
    timespec now{};
    if (sys(SYS_ppoll, &alive, 1, &now, nullptr, 0) > 0 && (alive.revents & POLLERR) != 0)
        raw::exit_group(exit_setup_failed);
    if (long r = sys(SYS_fchdir, dir)) die(report, step::userns_open_dir, err(r));
    close(dir);
    if (long r =
            sys(SYS_move_mount, p.userns.lower, "", AT_FDCWD, "lower", MOVE_MOUNT_F_EMPTY_PATH))
        die(report, step::userns_attach_lower, err(r));
    close(p.userns.lower);
}

// The kernel's struct sigaction, all zero: SIG_DFL, no flags, an empty mask. Its largest layout
// (x86_64: handler, flags, restorer, mask) covers every architecture's.
struct kernel_sigaction {
    unsigned long handler = 0, flags = 0, restorer = 0, mask = 0;
};

void reset_signals(int report) noexcept {
    kernel_sigaction dfl;
    for (int sig = 1; sig < NSIG; ++sig) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        sys(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof dfl.mask);
    }
    if (int r = set_mask(SIG_SETMASK, 0)) die(report, step::reset_signals, -r);
}

// init = true: ctr-init from its sealed memfd, never from a path a container could reach. It
// gets the report pipe on init_report_fd, open across this exec, and hands it on close-on-exec to
// the command it forks. Signals stay blocked across the exec, so none sent before ctr-init waits
// for them is dropped (PID 1 ignores a signal it has no handler for); ctr-init unblocks them for
// the command.
[[noreturn]] void exec_init(const plan& p, int report) noexcept {
    int image = p.init_image;
    if (image == init_report_fd) {
        image = fcntl(image, F_DUPFD_CLOEXEC, init_report_fd + 1);
        if (image < 0) die(report, step::prepare_init, -image);
    }
    // dup3 clears close-on-exec on its copy, but refuses an fd already there.
    int kept = report == init_report_fd ? fcntl(report, F_SETFD, 0) : dup2(report, init_report_fd);
    if (kept < 0) die(report, step::prepare_init, -kept);
    if (int r = set_mask(SIG_SETMASK, ~std::uint64_t{0})) die(report, step::prepare_init, -r);
    long r = sys(SYS_execveat, image, "", p.init_argv.data(), p.envp.data(), AT_EMPTY_PATH);
    die(report, step::exec_init, err(r));
}

[[noreturn]] void exec_command(const plan& p, int report) noexcept {
    if (p.init_image >= 0) exec_init(p, report);
    int first_err = ENOENT;
    for (const char* candidate : p.candidates) {
        int e = err(sys(SYS_execve, candidate, p.argv.data(), p.envp.data()));
        // Like execvp: keep searching past "not here", remember "here but not runnable".
        if (e != ENOENT && e != ENOTDIR) {
            first_err = e;
            if (e != EACCES) break;
        }
    }
    die(report, step::exec, first_err);
}

// Like runc and crun: the PTY comes from the container's own devpts instance, so `tty` inside
// names /dev/pts/N that exists there; only the master leaves, to the supervisor.
void take_terminal(int sock, int report) noexcept {
    int master = openat(AT_FDCWD, "/dev/ptmx", O_RDWR | O_NOCTTY);
    if (master < 0) die(report, step::open_terminal, -master);
    int unlock = 0;
    if (int r = ioctl(master, TIOCSPTLCK, raw::arg(&unlock))) die(report, step::open_terminal, -r);
    int peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (peer < 0) die(report, step::open_terminal, -peer);

    char byte = 't';
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))]{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    ::memcpy(CMSG_DATA(c), &master, sizeof(int));
    long n;
    do
        n = sys(SYS_sendmsg, sock, &msg, MSG_NOSIGNAL);
    while (n == -EINTR);
    if (n != 1) die(report, step::send_terminal, n < 0 ? err(n) : EPIPE);
    close(master);
    close(sock);

    // The child is a session leader without a terminal (setsid at its start): it may take one.
    if (int r = ioctl(peer, TIOCSCTTY, 0)) die(report, step::set_controlling_tty, -r);
    for (int to = 0; to <= 2; ++to)
        if (int r = dup2(peer, to); r < 0) die(report, step::set_stdio, -r);
    if (peer > 2) close(peer);
}

// From stdio to exec, shared by a container's first process and an exec'd one.
[[noreturn]] void become_command(const plan& p, const child_fds& fds) noexcept {
    const int report = fds.report;
    if (fds.terminal_socket >= 0) {
        take_terminal(fds.terminal_socket, report);
    } else {
        const int from[3] = {fds.stdin_fd, fds.stdout_fd, fds.stderr_fd};
        for (int to = 0; to <= 2; ++to)
            if (int r = dup2(from[to], to); r < 0) die(report, step::set_stdio, -r);
    }
    if (long r = sys(SYS_chdir, p.workdir.c_str())) die(report, step::chdir_workdir, err(r));
    sys(SYS_umask, 022);
    reset_signals(report);
    // Whatever fd the supervisor holds, opened with or without O_CLOEXEC, ends here at exec.
    if (long r = sys(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC))
        die(report, step::close_fds, err(r));
    // Raising a hard limit needs CAP_SYS_RESOURCE, which the container may not keep.
    if (p.nofile)
        if (long r = sys(SYS_prlimit64, 0, RLIMIT_NOFILE, &*p.nofile, nullptr))
            die(report, step::set_rlimit, err(r));
    drop_privileges(p, report);

    exec_command(p, report);
}

void watch_parent(const child_fds& fds) noexcept {
    if (long r = sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0))
        die(fds.report, step::wait_parent, err(r));
}

// Sync point 1. With PDEATHSIG armed, no byte here (EOF, or ECONNRESET when the parent closed
// with our "namespaces made" unread) means the parent is gone or gave up on us.
void wait_for_go(const child_fds& fds) noexcept {
    char go = 0;
    long n;
    do
        n = sys(SYS_read, fds.sync, &go, 1);
    while (n == -EINTR);
    if (n != 1) raw::exit_group(exit_setup_failed);
    close(fds.sync);
}

// Sync point 0. The child joins its cgroup itself and only then makes its cgroup namespace, so
// the container sees its own cgroup as "/", as in Docker; then its network namespace. Both cost
// more than the rest of a start's kernel work on the supervisor's side, and run here, on the
// other CPU, while the supervisor starts the next container. The byte tells the parent that the
// namespace its veth goes into exists; it may not wait for it (no network).
void make_own_namespaces(const child_fds& fds) noexcept {
    for (int i = 0; i < fds.cgroup_count; ++i) {
        long n;
        do
            n = sys(SYS_write, fds.cgroup_procs[i], "0", 1);
        while (n == -EINTR);
        if (n != 1) die(fds.report, step::join_cgroup, n < 0 ? err(n) : EIO, i);
        close(fds.cgroup_procs[i]);
    }
    if (long r = sys(SYS_unshare, CLONE_NEWCGROUP | CLONE_NEWNET))
        die(fds.report, step::make_namespaces, err(r));
    char made = 'n';
    sys(SYS_sendto, fds.sync, &made, 1, MSG_NOSIGNAL, nullptr, 0);
}

} // namespace

void run_child(const plan& p, const child_fds& fds) noexcept {
    const int report = fds.report;
    // Own session first: a Ctrl-C on the supervisor's terminal must not reach containers.
    sys(SYS_setsid);
    watch_parent(fds);
    make_own_namespaces(fds);
    wait_for_go(fds);

    sys(SYS_umask, 0);
    if (long r = sys(SYS_sethostname, p.hostname.data(), p.hostname.size()))
        die(report, step::set_hostname, err(r));
    loopback_up(report);

    // Nothing mounted from here on may propagate back to the host.
    if (long r = sys(SYS_mount, nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr))
        die(report, step::make_private, err(r));
    if (p.userns.enabled) become_namespace_root(p, report);
    const char* merged = p.userns.enabled ? "merged" : p.merged.c_str();
    if (long r = sys(SYS_mount, "overlay", merged, "overlay", 0, p.overlay_options.c_str()))
        die(report, step::mount_overlay, err(r));
    int rootfd = openat(AT_FDCWD, merged, O_PATH | O_DIRECTORY);
    if (rootfd < 0) die(report, step::open_root, -rootfd);
    for (int i = 0; i < mount_table_size; ++i)
        mount_one(p, rootfd, i, report);
    for (std::size_t i = 0; i < p.binds.size(); ++i)
        bind_file(rootfd, p.binds[i], mount_table_size + static_cast<int>(i), report);
    // Before /proc/sys turns read-only.
    set_ping_range(p, rootfd, report);
    // The masks use the /dev/null made above, before a `mounts` entry could cover it. No entry
    // reaches into /proc or /sys: the config refuses those targets, and symlinks are refused.
    mask_paths(rootfd, report);
    make_paths_readonly(rootfd, report);
    for (std::size_t i = 0; i < p.mounts.size(); ++i)
        bind_user_mount(rootfd, p, static_cast<int>(i), report);
    // Only the overlay: /dev, /dev/shm, /proc, /etc/hosts and the binds stay as they are.
    if (p.readonly_rootfs)
        if (int r = set_mount_attr(rootfd, MOUNT_ATTR_RDONLY, 0))
            die(report, step::make_root_readonly, -r);

    // pivot_root(".", ".") stacks the old root on the new one; detaching it leaves only ours.
    if (long r = sys(SYS_fchdir, rootfd)) die(report, step::pivot_root, err(r));
    if (long r = sys(SYS_pivot_root, ".", ".")) die(report, step::pivot_root, err(r));
    if (long r = sys(SYS_umount2, ".", MNT_DETACH)) die(report, step::detach_old_root, err(r));
    if (long r = sys(SYS_chdir, "/")) die(report, step::detach_old_root, err(r));
    close(rootfd);

    become_command(p, fds);
}

void run_exec_child(const plan& p, const child_fds& fds) noexcept {
    // Its own session, like the container's first process: no terminal's signals but its own.
    sys(SYS_setsid);
    // Until exec it is a copy of the supervisor inside the container's pid namespace: not
    // dumpable, so no process there (without CAP_SYS_PTRACE) can open its /proc/PID/exe, the
    // host's supervisor binary (runc's CVE-2019-5736). exec resets it for the command.
    if (long r = sys(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0))
        die(fds.report, step::wait_parent, err(r));
    watch_parent(fds);
    wait_for_go(fds);
    // All at once through the pidfd: joining the mount namespace makes its root and cwd ours.
    if (long r = sys(SYS_setns, fds.container_pidfd, fds.namespaces))
        die(fds.report, step::join_namespaces, err(r));
    close(fds.container_pidfd);
    // In a user namespace the host's root is unmapped: become its root (host userns_base), and
    // re-arm the parent-death signal that changing ids cleared.
    if ((fds.namespaces & CLONE_NEWUSER) != 0) {
        long r = sys(SYS_setgroups, 0, nullptr);
        if (r == 0) r = sys(SYS_setresgid, 0, 0, 0);
        if (r == 0) r = sys(SYS_setresuid, 0, 0, 0);
        if (r == 0) r = sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (r != 0) die(fds.report, step::join_namespaces, err(r));
    }
    become_command(p, fds);
}

void run_child_from(void* start) noexcept {
    const auto* s = static_cast<const child_start*>(start);
    run_child(*s->p, s->fds);
}

} // namespace ctr::spawn
