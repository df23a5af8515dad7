#include "ctr/spawn/launch.hpp"

#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <linux/sched.h>
#include <new>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include "ctr/core/error.hpp"
#include "ctr/core/scope_guard.hpp"
#include "ctr/spawn/child.hpp"
#include "ctr/spawn/userns.hpp"
#include "ctr/sys/files.hpp"
#include "ctr/sys/process.hpp"

namespace ctr::spawn {

namespace {
struct fd_pair {
    unique_fd parent, child;
};
fd_pair make_socketpair(int type, const char* what) {
    int fds[2];
    if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0)
        throw_errno("socketpair({})", what);
    return {unique_fd(fds[0]), unique_fd(fds[1])};
}
// Sync goes both ways (child.hpp: the child's "namespaces made", the parent's go); the parent
// reads the report pipe.
fd_pair make_sync() {
    return make_socketpair(SOCK_STREAM, "sync");
}
fd_pair make_report() {
    auto ends = sys::make_pipe("report");
    return {std::move(ends.read), std::move(ends.write)};
}
fd_pair make_terminal_socket() {
    return make_socketpair(SOCK_SEQPACKET, "terminal");
}

// A container's set-up needs a few KiB of stack; the rest is never touched, so never backed.
constexpr std::size_t stack_size = 256 * 1024;

#if defined(__x86_64__)
// clone3 onto `args->stack`: the child cannot return into this frame, whose stack it does not
// have, so it calls entry(arg) straight from the syscall's return (as glibc's clone does).
long clone3_calling(clone_args& args, void (*entry)(void*), void* arg) noexcept {
    long ret;
    register void (*fn)(void*) asm("r12") = entry;
    register void* fn_arg asm("r13") = arg;
    asm volatile("syscall\n\t"
                 "test %%rax, %%rax\n\t"
                 "jnz 1f\n\t"
                 "xor %%ebp, %%ebp\n\t"
                 "mov %%r13, %%rdi\n\t"
                 "call *%%r12\n\t"
                 "ud2\n"
                 "1:"
                 : "=a"(ret)
                 : "a"(SYS_clone3), "D"(&args), "S"(sizeof args), "r"(fn), "r"(fn_arg)
                 : "rcx", "r11", "memory");
    if (ret < 0) {
        errno = static_cast<int>(-ret);
        return -1;
    }
    return ret;
}
#endif

// Everything but the clone: the child's entry point and its flags differ between a container's
// first process and an exec'd one.
template <class Clone>
launched start(const plan& p, const stdio_fds& stdio, Clone clone, child_stack stack = {}) {
    auto sync = make_sync();
    auto report = make_report();
    fd_pair terminal;
    if (stdio.terminal) terminal = make_terminal_socket();

    child_fds fds{sync.child.get(), report.child.get(), stdio.in,
                  stdio.out,        stdio.err,          terminal.child ? terminal.child.get() : -1};
    // Ours close at the end of this scope; the child has its copies from the clone.
    std::vector<unique_fd> cgroup_procs;
    if (p.cgroup_procs.size() > static_cast<std::size_t>(max_cgroup_hierarchies))
        fail("{}: {} cgroup hierarchies, more than {}", p.name, p.cgroup_procs.size(),
             max_cgroup_hierarchies);
    for (const auto& file : p.cgroup_procs) {
        cgroup_procs.push_back(sys::open_file(file, O_WRONLY));
        fds.cgroup_procs[fds.cgroup_count++] = cgroup_procs.back().get();
    }
    int pidfd = -1;
    long pid = clone(fds, pidfd);
    if (pid < 0) throw_errno("clone3({})", p.name);

    // The child's ends stay only in the child; holding the report's write end would hide its EOF.
    sync.child.reset();
    report.child.reset();
    terminal.child.reset();
    launched child(static_cast<pid_t>(pid), unique_fd(pidfd), std::move(sync.parent),
                   std::move(report.parent), std::move(terminal.parent), std::move(stack));
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

child_stack::child_stack(std::size_t size) : size_(size) {
    void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) throw_errno("mmap(child stack, {} bytes)", size);
    base_ = m;
    // A guard page at the bottom: an overflow faults instead of writing into our heap.
    if (::mprotect(base_, 4096, PROT_NONE) != 0) {
        int err = errno;
        ::munmap(base_, size_);
        throw_sys(err, "mprotect(child stack guard)");
    }
}

child_stack::child_stack(child_stack&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)), size_(std::exchange(o.size_, 0)) {}

child_stack& child_stack::operator=(child_stack&& o) noexcept {
    if (this != &o) {
        this->~child_stack();
        base_ = std::exchange(o.base_, nullptr);
        size_ = std::exchange(o.size_, 0);
    }
    return *this;
}

child_stack::~child_stack() {
    if (base_) ::munmap(base_, size_);
}

launched::launched(pid_t pid, unique_fd pidfd, unique_fd sync, unique_fd report, unique_fd terminal,
                   child_stack stack)
    : stack_(std::move(stack)), pid_(pid), pidfd_(std::move(pidfd)), sync_(std::move(sync)),
      report_(std::move(report)), terminal_(std::move(terminal)) {}

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
        n = ::send(sync_.get(), &go, 1, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    // A child gone before its go left its reason on the report pipe (a failed cgroup join), or
    // none (killed): the caller reads which.
    bool gone = n != 1 && (errno == EPIPE || errno == ECONNRESET);
    if (n != 1 && !gone) throw_errno("send(sync socket of pid {})", pid_);
    sync_.reset();
    return {std::move(pidfd_), std::move(report_), std::move(terminal_), std::move(stack_), gone};
}

launched launch(const plan& p, const stdio_fds& stdio) {
    // The network and cgroup namespaces the child makes itself (child.hpp, sync point 0).
    std::uint64_t flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
    // In the same call, so the new user namespace owns the others, and the network and cgroup
    // namespaces the child makes from inside it: root inside may then mount /proc, /sys and
    // mqueue and configure its network.
    if (p.userns.enabled) flags |= CLONE_NEWUSER;
#if !defined(__x86_64__)
    launched child = start(p, stdio, [&](child_fds& fds, int& pidfd) {
        long pid = clone3(flags, pidfd);
        if (pid == 0) run_child(p, fds);
        return pid;
    });
#else
    child_stack stack(stack_size);
    // The child's arguments live at the top of its own stack, not in this frame, which is gone
    // by the time it may read them.
    auto* base = static_cast<char*>(stack.base());
    auto* args = reinterpret_cast<child_start*>(base + stack.size() - sizeof(child_start));
    auto* sp =
        reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(args) & ~std::uintptr_t{63});
    launched child = start(
        p, stdio,
        [&](child_fds& fds, int& pidfd) {
            new (args) child_start{&p, fds};
            clone_args ca{};
            ca.flags = CLONE_VM | CLONE_PIDFD | flags;
            ca.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
            ca.exit_signal = SIGCHLD;
            ca.stack = reinterpret_cast<std::uintptr_t>(base);
            ca.stack_size = static_cast<std::uint64_t>(sp - base);
            // Signals stay blocked in the child until it resets every handler to the default
            // (become_command): a handler of ours must never run on its stack, in our memory.
            // Raw, both the set and the call: glibc's sigfillset and sigprocmask leave its own
            // two signals (32, 33) out.
            sigset_t all, old;
            std::memset(&all, 0xff, sizeof all);
            ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, _NSIG / 8);
            long pid = clone3_calling(ca, run_child_from, args);
            int saved = errno;
            ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, _NSIG / 8);
            errno = saved;
            return pid;
        },
        std::move(stack));
#endif
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
