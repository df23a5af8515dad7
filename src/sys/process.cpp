#include "ctr/sys/process.hpp"

#include <dirent.h>
#include <fstream>
#include <sstream>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctr/core/error.hpp"

namespace ctr::sys {

std::string signal_name(int sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev) return fmt::format("SIG{}", abbrev);
    return fmt::format("signal {}", sig);
}

std::string describe(const exit_status& s) {
    if (s.exited()) return fmt::format("exit code {}", s.code);
    return fmt::format("killed by {}", signal_name(s.signal));
}

unique_fd pidfd_open(pid_t pid) {
    // Raw syscalls: glibc 2.36's <sys/pidfd.h> lacks C linkage for C++.
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) throw_errno("pidfd_open({})", pid);
    return unique_fd(fd);
}

int pidfd_signal(int pidfd, int sig) noexcept {
    if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0) return 0;
    return errno;
}

namespace {
exit_status from_siginfo(const siginfo_t& info) {
    exit_status s;
    if (info.si_code == CLD_EXITED)
        s.code = info.si_status;
    else
        s.signal = info.si_status;
    return s;
}
} // namespace

std::optional<exit_status> pidfd_wait(int pidfd, bool nohang) {
    siginfo_t info{};
    int flags = WEXITED | (nohang ? WNOHANG : 0);
    for (;;) {
        if (::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, flags) == 0) break;
        if (errno != EINTR) throw_errno("waitid(P_PIDFD {})", pidfd);
    }
    if (info.si_pid == 0) return std::nullopt;
    return from_siginfo(info);
}

void become_subreaper() {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        throw_errno("prctl(PR_SET_CHILD_SUBREAPER)");
}

int reap_strays_impl(bool (*tracked)(void*, pid_t), void* ctx) {
    // /proc/self/task/*/children lists our children without touching their wait status, so the
    // ones whose pidfd someone awaits are left for that owner.
    int reaped = 0;
    std::ifstream in(fmt::format("/proc/self/task/{}/children", ::gettid()));
    pid_t pid;
    while (in >> pid) {
        if (tracked(ctx, pid)) continue;
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) == 0 && info.si_pid)
            ++reaped;
    }
    return reaped;
}

std::optional<unsigned long long> start_time(pid_t pid) {
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    std::string stat;
    if (!std::getline(in, stat)) return std::nullopt;
    // The command name may hold spaces and parentheses: fields restart after the last ')'.
    auto close = stat.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    // Field 3 (state) is the first after ')'; start time is field 22.
    for (int i = 3; i < 22; ++i)
        if (!(rest >> field)) return std::nullopt;
    unsigned long long ticks = 0;
    if (!(rest >> ticks)) return std::nullopt;
    return ticks;
}

} // namespace ctr::sys
