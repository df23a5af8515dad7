// A container's running first process, watched through its pidfd on the event loop. Destroying
// one that was not reaped kills and reaps it: no path leaves a process or a zombie behind.
#pragma once

#include <optional>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include "ctr/core/unique_fd.hpp"
#include "ctr/sys/process.hpp"

namespace ctr::supervise {

class child_process {
  public:
    child_process(asio::any_io_executor ex, pid_t pid, unique_fd pidfd);
    child_process(child_process&& o) noexcept;
    child_process& operator=(child_process&&) = delete;
    ~child_process();

    pid_t pid() const { return pid_; }
    // Borrowed: valid while this object lives (exec joins the container's namespaces with it).
    int pidfd() { return pidfd_.native_handle(); }
    bool reaped() const { return status_.has_value(); }
    // Completes when the process has exited, and reaps it.
    asio::awaitable<sys::exit_status> wait_exit();
    // Non-throwing: "already gone" is not an error here.
    void signal(int sig);
    // Whether a live child_process will reap `pid`: the SIGCHLD backstop must leave it alone.
    static bool owns(pid_t pid);

  private:
    pid_t pid_;
    asio::posix::stream_descriptor pidfd_;
    std::optional<sys::exit_status> status_;
};

} // namespace ctr::supervise
