// Runs in the freshly cloned child. Only async-signal-safe calls from here to execve: the parent
// built every string beforehand, and every failure leaves as one {step, errno, detail} record.
#include "ctr/spawn/child.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ctr/spawn/mount_table.hpp"

namespace ctr::spawn {
namespace {

[[noreturn]] void die(int fd, step s, int err, int detail = -1) noexcept {
    failure f{s, err, detail};
    ssize_t r = ::write(fd, &f, sizeof f);
    (void)r;
    int code = exit_setup_failed;
    if (s == step::exec)
        code = (err == ENOENT || err == ENOTDIR) ? exit_not_found : exit_not_executable;
    ::_exit(code);
}

// Resolves `path` below `dirfd` as if dirfd were "/", refusing every symlink: a container that
// planted `/proc -> /` in its overlay gets an error, never a mount on the host's path.
int open_inside(int dirfd, const char* path, bool directory = true) noexcept {
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC | (directory ? O_DIRECTORY : 0);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

void loopback_up(int report) noexcept {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) die(report, step::loopback_up, errno);
    ifreq ifr{};
    ::memcpy(ifr.ifr_name, "lo", 3);
    if (::ioctl(s, SIOCGIFFLAGS, &ifr) != 0) die(report, step::loopback_up, errno);
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) die(report, step::loopback_up, errno);
    ::close(s);
}

void make_devices(int devfd, int report, int index) noexcept {
    for (const auto& d : dev_nodes) {
        if (::mknodat(devfd, d.name, S_IFCHR | 0666, makedev(d.major, d.minor)) != 0)
            die(report, step::make_device, errno, index);
    }
    for (const auto& l : dev_links) {
        if (::symlinkat(l.target, devfd, l.name) != 0) die(report, step::make_device, errno, index);
    }
}

void mount_one(int rootfd, int index, int report) noexcept {
    const mount_spec& m = mount_table[index];
    int parent = open_inside(rootfd, m.parent);
    if (parent < 0) die(report, step::open_target, errno, index);
    if (::mkdirat(parent, m.leaf, m.dir_mode) != 0 && errno != EEXIST)
        die(report, step::make_target, errno, index);
    int target = open_inside(parent, m.leaf);
    if (target < 0) die(report, step::open_target, errno, index);

    int fs = ::fsopen(m.fstype, FSOPEN_CLOEXEC);
    if (fs < 0) die(report, step::fs_open, errno, index);
    for (const auto& opt : m.options) {
        if (!opt.key) break;
        int r = opt.value ? ::fsconfig(fs, FSCONFIG_SET_STRING, opt.key, opt.value, 0)
                          : ::fsconfig(fs, FSCONFIG_SET_FLAG, opt.key, nullptr, 0);
        if (r != 0) die(report, step::fs_create, errno, index);
    }
    if (::fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
        die(report, step::fs_create, errno, index);
    int mnt = ::fsmount(fs, FSMOUNT_CLOEXEC, m.attr);
    if (mnt < 0) die(report, step::fs_mount, errno, index);
    if (::move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
        die(report, step::move_mount, errno, index);
    if (m.is_dev) make_devices(mnt, report, index);
    ::close(mnt);
    ::close(fs);
    ::close(target);
    ::close(parent);
}

// Binds the supervisor's file for this container (its /etc/hosts) over one inside the root. The
// target is created when missing and, like every mount point, never reached through a symlink.
void bind_file(int rootfd, const bind_spec& b, int index, int report) noexcept {
    int dir = open_inside(rootfd, b.parent);
    if (dir < 0) die(report, step::open_target, errno, index);
    int made = ::openat(dir, b.leaf, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (made < 0) die(report, step::make_target, errno, index);
    ::close(made);
    int target = open_inside(dir, b.leaf, false);
    if (target < 0) die(report, step::open_target, errno, index);
    int source = ::open_tree(AT_FDCWD, b.source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (source < 0) die(report, step::fs_mount, errno, index);
    if (::move_mount(source, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) !=
        0)
        die(report, step::move_mount, errno, index);
    ::close(source);
    ::close(target);
    ::close(dir);
}

void reset_signals(int report) noexcept {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        ::sigaction(sig, &dfl, nullptr); // fails harmlessly for the libc-reserved signals
    }
    sigset_t none;
    sigemptyset(&none);
    if (::sigprocmask(SIG_SETMASK, &none, nullptr) != 0) die(report, step::reset_signals, errno);
}

} // namespace

void run_child(const plan& p, const child_fds& fds) noexcept {
    const int report = fds.report;
    // Own session first: a Ctrl-C on the supervisor's terminal must not reach containers.
    ::setsid();
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) die(report, step::wait_parent, errno);
    // Sync point 1. After PDEATHSIG is armed, EOF here can only mean the parent is gone.
    char go = 0;
    ssize_t n;
    do
        n = ::read(fds.sync, &go, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) ::_exit(exit_setup_failed);
    ::close(fds.sync);

    ::umask(0);
    if (::sethostname(p.hostname.data(), p.hostname.size()) != 0)
        die(report, step::set_hostname, errno);
    loopback_up(report);

    // Nothing mounted from here on may propagate back to the host.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        die(report, step::make_private, errno);
    if (::mount("overlay", p.merged.c_str(), "overlay", 0, p.overlay_options.c_str()) != 0)
        die(report, step::mount_overlay, errno);
    int rootfd = ::open(p.merged.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) die(report, step::open_root, errno);
    for (int i = 0; i < mount_table_size; ++i)
        mount_one(rootfd, i, report);
    for (std::size_t i = 0; i < p.binds.size(); ++i)
        bind_file(rootfd, p.binds[i], mount_table_size + static_cast<int>(i), report);

    // pivot_root(".", ".") stacks the old root on the new one; detaching it leaves only ours.
    if (::fchdir(rootfd) != 0) die(report, step::pivot_root, errno);
    if (::syscall(SYS_pivot_root, ".", ".") != 0) die(report, step::pivot_root, errno);
    if (::umount2(".", MNT_DETACH) != 0) die(report, step::detach_old_root, errno);
    if (::chdir("/") != 0) die(report, step::detach_old_root, errno);
    ::close(rootfd);

    if (::dup2(fds.stdin_fd, 0) < 0 || ::dup2(fds.stdout_fd, 1) < 0 || ::dup2(fds.stderr_fd, 2) < 0)
        die(report, step::set_stdio, errno);
    if (::chdir(p.workdir.c_str()) != 0) die(report, step::chdir_workdir, errno);
    ::umask(022);
    reset_signals(report);
    // Whatever fd the supervisor holds, opened with or without O_CLOEXEC, ends here at exec.
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) die(report, step::close_fds, errno);

    int first_err = ENOENT;
    for (const char* candidate : p.candidates) {
        ::execve(candidate, p.argv.data(), p.envp.data());
        // Like execvp: keep searching past "not here", remember "here but not runnable".
        if (errno != ENOENT && errno != ENOTDIR) {
            first_err = errno;
            if (errno != EACCES) break;
        }
    }
    die(report, step::exec, first_err);
}

} // namespace ctr::spawn
