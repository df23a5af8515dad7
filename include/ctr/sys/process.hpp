// Processes through pidfds: signalling and reaping a child by its pidfd can never hit a recycled
// PID.
#pragma once

#include <optional>
#include <signal.h>
#include <string>
#include <sys/types.h>

#include "ctr/core/unique_fd.hpp"

namespace ctr::sys {

// How a process ended, as waitid() reports it.
struct exit_status {
    int code = -1;  // exit code when it exited
    int signal = 0; // terminating signal when killed
    bool exited() const { return signal == 0; }
};
std::string describe(const exit_status& s); // "exit code 1", "killed by SIGKILL"
std::string signal_name(int sig);           // "SIGKILL"; "signal 42" when it has no name

unique_fd pidfd_open(pid_t pid);
// Non-throwing twin of pidfd_send_signal: 0, or the errno (ESRCH once the process is gone).
int pidfd_signal(int pidfd, int sig) noexcept;
// Reaps the child behind pidfd. With nohang, returns nothing while it still runs.
std::optional<exit_status> pidfd_wait(int pidfd, bool nohang);

// The supervisor adopts orphans of processes it starts, so none is ever left a zombie.
void become_subreaper();
// Reaps exited children that nothing holds a pidfd for (the SIGCHLD backstop); `tracked` says
// whether a pid belongs to someone who will reap it through its pidfd.
template <typename Tracked> int reap_strays(Tracked&& tracked);
int reap_strays_impl(bool (*tracked)(void*, pid_t), void* ctx);
template <typename Tracked> int reap_strays(Tracked&& tracked) {
    return reap_strays_impl(
        [](void* c, pid_t p) { return (*static_cast<std::remove_reference_t<Tracked>*>(c))(p); },
        &tracked);
}

// The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), which tells a
// process from a later one that reuses its PID; nothing when it does not exist.
std::optional<unsigned long long> start_time(pid_t pid);

} // namespace ctr::sys
