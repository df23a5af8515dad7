#include "ctr/spawn/launch.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ctr/core/error.hpp"
#include "ctr/core/scope_guard.hpp"
#include "ctr/spawn/child.hpp"
#include "ctr/spawn/userns.hpp"
#include "ctr/sys/process.hpp"

namespace ctr::spawn {

namespace {
struct fd_pair {
    unique_fd parent, child;
};
fd_pair make_pipe(const char* what) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2({})", what);
    return {unique_fd(fds[1]), unique_fd(fds[0])}; // parent writes sync; see make_report
}
fd_pair make_report() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2(report)");
    return {unique_fd(fds[0]), unique_fd(fds[1])};
}
fd_pair make_terminal_socket() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
        throw_errno("socketpair(terminal)");
    return {unique_fd(fds[0]), unique_fd(fds[1])};
}

// Everything but the clone: the child's entry point and its flags differ between a container's
// first process and an exec'd one.
template <class Clone> launched start(const plan& p, const stdio_fds& stdio, Clone clone) {
    auto sync = make_pipe("sync");
    auto report = make_report();
    fd_pair terminal;
    if (stdio.terminal) terminal = make_terminal_socket();

    child_fds fds{sync.child.get(), report.child.get(), stdio.in,
                  stdio.out,        stdio.err,          terminal.child ? terminal.child.get() : -1};
    int pidfd = -1;
    long pid = clone(fds, pidfd);
    if (pid < 0) throw_errno("clone3({})", p.name);

    // The child's ends stay only in the child; holding the report's write end would hide its EOF.
    sync.child.reset();
    report.child.reset();
    terminal.child.reset();
    launched child(static_cast<pid_t>(pid), unique_fd(pidfd), std::move(sync.parent),
                   std::move(report.parent), std::move(terminal.parent));
    if (::fcntl(child.report_fd(), F_SETFL, O_NONBLOCK) != 0)
        throw_errno("fcntl(report pipe, O_NONBLOCK)");
    return child;
}

long clone3(std::uint64_t flags, int& pidfd) {
    clone_args args{};
    args.flags = CLONE_PIDFD | flags;
    args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    return ::syscall(SYS_clone3, &args, sizeof args);
}
} // namespace

launched::launched(pid_t pid, unique_fd pidfd, unique_fd sync, unique_fd report, unique_fd terminal)
    : pid_(pid), pidfd_(std::move(pidfd)), sync_(std::move(sync)), report_(std::move(report)),
      terminal_(std::move(terminal)) {}

launched::~launched() {
    if (!pidfd_) return;
    sys::pidfd_signal(pidfd_.get(), SIGKILL);
    try {
        sys::pidfd_wait(pidfd_.get(), false);
    } catch (...) {
        // Already reaped elsewhere; nothing is left to undo.
    }
}

launched::running launched::release() {
    char go = 1;
    ssize_t n;
    do
        n = ::write(sync_.get(), &go, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) throw_errno("write(sync pipe of pid {})", pid_);
    sync_.reset();
    return {std::move(pidfd_), std::move(report_), std::move(terminal_)};
}

launched launch(const plan& p, const stdio_fds& stdio) {
    std::uint64_t flags =
        CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;
    // In the same call, so the new user namespace owns every other one: root inside may then
    // mount /proc, /sys and mqueue and configure its network.
    if (p.userns.enabled) flags |= CLONE_NEWUSER;
    launched child = start(p, stdio, [&](child_fds& fds, int& pidfd) {
        long pid = clone3(flags, pidfd);
        if (pid == 0) run_child(p, fds);
        return pid;
    });
    // Before sync point 1 releases it: the child becomes root of its namespace only then.
    if (p.userns.enabled) write_id_maps(child.pid(), {p.userns.base, p.userns.size});
    return child;
}

launched launch_exec(const plan& p, const stdio_fds& stdio, int container_pidfd, int namespaces) {
    unique_fd own(::open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC));
    if (!own) throw_errno("open(\"/proc/self/ns/pid\")");
    // setns(CLONE_NEWPID) only sets where our next child is born; the loop has one thread, so
    // nothing else forks in between, and the guard puts it back whatever happens.
    if (::setns(container_pidfd, CLONE_NEWPID) != 0)
        throw_errno("setns(pid namespace of container {})", p.name);
    scope_guard back([&] {
        if (::setns(own.get(), CLONE_NEWPID) != 0) std::abort(); // never clone into it again
    });
    return start(p, stdio, [&](child_fds& fds, int& pidfd) {
        fds.container_pidfd = container_pidfd;
        fds.namespaces = namespaces & ~CLONE_NEWPID;
        long pid = clone3(0, pidfd);
        if (pid == 0) run_exec_child(p, fds);
        return pid;
    });
}

unique_fd receive_terminal(int terminal) {
    char byte = 0;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))]{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do
        n = ::recvmsg(terminal, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0) throw_errno("recvmsg(terminal socket)");
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (n != 1 || !c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)))
        fail("the container sent no terminal");
    int fd = -1;
    ::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return unique_fd(fd);
}

} // namespace ctr::spawn
