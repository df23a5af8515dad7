#include "ctr/spawn/launch.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ctr/core/error.hpp"
#include "ctr/spawn/child.hpp"
#include "ctr/spawn/userns.hpp"
#include "ctr/sys/process.hpp"

namespace ctr::spawn {

namespace {
struct pipe_pair {
    unique_fd read, write;
};
pipe_pair make_pipe(const char* what) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2({})", what);
    return {unique_fd(fds[0]), unique_fd(fds[1])};
}
} // namespace

launched::launched(pid_t pid, unique_fd pidfd, unique_fd sync, unique_fd report)
    : pid_(pid), pidfd_(std::move(pidfd)), sync_(std::move(sync)), report_(std::move(report)) {}

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
    return {std::move(pidfd_), std::move(report_)};
}

launched launch(const plan& p, const stdio_fds& stdio) {
    auto sync = make_pipe("sync");
    auto report = make_pipe("report");

    int pidfd = -1;
    clone_args args{};
    args.flags = CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                 CLONE_NEWNET | CLONE_NEWCGROUP;
    // In the same call, so the new user namespace owns every other one: root inside may then
    // mount /proc, /sys and mqueue and configure its network.
    if (p.userns.enabled) args.flags |= CLONE_NEWUSER;
    args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) throw_errno("clone3(new namespaces for {})", p.name);
    if (pid == 0)
        run_child(p,
                  child_fds{sync.read.get(), report.write.get(), stdio.in, stdio.out, stdio.err});

    // The child's ends stay only in the child; holding the report's write end would hide its EOF.
    sync.read.reset();
    report.write.reset();
    launched child(static_cast<pid_t>(pid), unique_fd(pidfd), std::move(sync.write),
                   std::move(report.read));
    if (::fcntl(child.report_fd(), F_SETFL, O_NONBLOCK) != 0)
        throw_errno("fcntl(report pipe, O_NONBLOCK)");
    if (p.userns.enabled) write_id_maps(child.pid(), {p.userns.base, p.userns.size});
    return child;
}

} // namespace ctr::spawn
