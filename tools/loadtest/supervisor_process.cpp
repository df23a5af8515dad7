#include "supervisor_process.hpp"

#include "host/host.hpp"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "ctr/core/error.hpp"

namespace ctr::loadtest {

using namespace std::chrono_literals;

supervisor_process::supervisor_process(const std::filesystem::path& exe,
                                       const std::filesystem::path& config,
                                       const std::filesystem::path& log) {
    // Everything the child needs is made before fork: it only calls async-signal-safe functions.
    std::string exe_s = exe.string(), config_s = config.string();
    std::vector<char*> argv{exe_s.data(), const_cast<char*>("--config"), config_s.data(), nullptr};
    int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) throw_errno("open({})", log.string());
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) {
        ::close(log_fd);
        ::close(null_fd);
        throw_errno("fork");
    }
    if (pid_ == 0) {
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(125); // loadtest died before the line above
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::dup2(null_fd, 0);
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(log_fd);
    ::close(null_fd);
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd_ < 0) {
        int err = errno;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        reaped_ = true;
        throw_sys(err, "pidfd_open(ctr-supervisor)");
    }
}

supervisor_process::~supervisor_process() {
    if (!reaped_ && !stop(SIGTERM, 30s)) stop(SIGKILL, 10s);
    if (pidfd_ >= 0) ::close(pidfd_);
}

bool supervisor_process::exited() const {
    if (reaped_) return true;
    pollfd p{pidfd_, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}

std::optional<supervisor_process::outcome>
supervisor_process::stop(int sig, std::chrono::milliseconds limit,
                         const std::function<bool()>& hurry) {
    if (reaped_) return std::nullopt;
    auto began = std::chrono::steady_clock::now();
    ::kill(pid_, sig);
    bool killed = sig == SIGKILL;
    while (!exited()) {
        if (std::chrono::steady_clock::now() - began > limit) return std::nullopt;
        if (!killed && hurry && hurry()) {
            ::kill(pid_, SIGKILL);
            killed = true;
        }
        pollfd p{pidfd_, POLLIN, 0};
        ::poll(&p, 1, 10);
    }
    outcome o{};
    o.stop_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count();
    // Read its CPU time while it is a zombie, then reap it.
    siginfo_t info{};
    ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT);
    if (auto cpu = host::cpu_of(pid_)) o.cpu_seconds = cpu->self;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return o;
}

} // namespace ctr::loadtest
