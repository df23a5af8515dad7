// The ctr-supervisor a load test runs: launched in a process group of its own (a Ctrl-C on the
// terminal reaches loadtest only, which then stops it once, with SIGTERM), told to get SIGTERM
// if loadtest dies, and never left behind: the destructor stops and reaps it.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <sys/types.h>

namespace ctr::loadtest {

class supervisor_process {
  public:
    // Runs `exe --config config`, stdout and stderr appended to `log`.
    supervisor_process(const std::filesystem::path& exe, const std::filesystem::path& config,
                       const std::filesystem::path& log);
    ~supervisor_process();
    supervisor_process(const supervisor_process&) = delete;
    supervisor_process& operator=(const supervisor_process&) = delete;

    pid_t pid() const { return pid_; }
    // It exited (it may still be a zombie until stop() reaps it).
    bool exited() const;

    struct outcome {
        int exit_code;      // 128 + signal when a signal ended it
        double cpu_seconds; // its own utime + stime over its whole life
        double stop_ms;     // from the signal to its exit
    };
    // Sends `sig`, then waits up to `limit` for the exit and reaps it. `hurry` is asked every
    // 10 ms; when it says so, the process gets SIGKILL. Nothing when it did not exit in time.
    std::optional<outcome> stop(int sig, std::chrono::milliseconds limit,
                                const std::function<bool()>& hurry = {});

  private:
    pid_t pid_ = -1;
    int pidfd_ = -1;
    bool reaped_ = false;
};

} // namespace ctr::loadtest
