#include "ctr/supervise/child_process.hpp"

#include <signal.h>
#include <unordered_set>

#include <asio/use_awaitable.hpp>

namespace ctr::supervise {

namespace {
// Unreaped children that have an owner; one event loop thread, so no lock.
std::unordered_set<pid_t>& owned() {
    static std::unordered_set<pid_t> pids;
    return pids;
}
} // namespace

bool child_process::owns(pid_t pid) {
    return owned().contains(pid);
}

child_process::child_process(asio::any_io_executor ex, pid_t pid, unique_fd pidfd)
    : pid_(pid), pidfd_(ex, pidfd.release()) {
    owned().insert(pid_);
}

child_process::child_process(child_process&& o) noexcept
    : pid_(o.pid_), pidfd_(std::move(o.pidfd_)), status_(o.status_) {
    o.status_ = sys::exit_status{}; // the moved-from shell owns nothing any more
}

child_process::~child_process() {
    if (status_ || !pidfd_.is_open()) return;
    owned().erase(pid_);
    sys::pidfd_signal(pidfd_.native_handle(), SIGKILL);
    try {
        sys::pidfd_wait(pidfd_.native_handle(), false);
    } catch (...) {
        // Reaped by someone else already: nothing is left to undo.
    }
}

asio::awaitable<sys::exit_status> child_process::wait_exit() {
    while (!status_) {
        co_await pidfd_.async_wait(asio::posix::stream_descriptor::wait_read, asio::use_awaitable);
        status_ = sys::pidfd_wait(pidfd_.native_handle(), true);
    }
    owned().erase(pid_);
    co_return *status_;
}

void child_process::signal(int sig) {
    if (!status_) sys::pidfd_signal(pidfd_.native_handle(), sig);
}

} // namespace ctr::supervise
