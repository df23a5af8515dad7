#include "common/spawn_supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctr/core/error.hpp"

namespace ctr::bench {

spawned_supervisor spawn_supervisor(const std::vector<std::string>& argv, int log_fd,
                                    program_lookup lookup) {
    // Everything the child needs is made before fork: it only calls async-signal-safe functions.
    std::vector<char*> args;
    for (auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    unique_fd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!null_fd) throw_errno("open(/dev/null)");
    const bool search_path = lookup == program_lookup::search_path;
    pid_t parent = ::getpid();
    spawned_supervisor out;
    out.pid = ::fork();
    if (out.pid < 0) throw_errno("fork");
    if (out.pid == 0) {
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(125); // the benchmark died before the line above
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::dup2(null_fd.get(), 0);
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
        if (search_path)
            ::execvp(args[0], args.data());
        else
            ::execv(args[0], args.data());
        ::_exit(127);
    }
    out.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, out.pid, 0)));
    if (!out.pidfd) {
        int err = errno;
        ::kill(out.pid, SIGKILL);
        ::waitpid(out.pid, nullptr, 0);
        throw_sys(err, "pidfd_open(ctr-supervisor)");
    }
    return out;
}

} // namespace ctr::bench
