// One container's life as one coroutine. run() reads top to bottom as its state machine:
//
//   stopped ──start──▶ starting ──exec'd──▶ running ──exit──▶ (policy) ──▶ backoff ──▶ starting
//                          │                   │                  └──────▶ exited | failed
//                          └──set-up failed────┤
//                                              └──stop──▶ stopping ──▶ stopped
//
// Other code only files requests (start, stop, restart, shutdown); the coroutine alone changes
// the state, through set_state(), which logs it and wakes whoever watches `changed`.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include "ctr/cgroup/group.hpp"
#include "ctr/config/config.hpp"
#include "ctr/core/notifier.hpp"
#include "ctr/supervise/backoff.hpp"
#include "ctr/supervise/child_process.hpp"
#include "ctr/supervise/spawner.hpp"
#include "ctr/sys/process.hpp"
#include "ctr/tty/hub.hpp"

namespace ctr::supervise {

enum class state { stopped, starting, running, stopping, backoff, exited, failed };
const char* to_string(state s);
std::optional<state> parse_state(std::string_view s);

struct status {
    std::string name;
    state current = state::stopped;
    pid_t pid = 0;
    int restarts = 0;
    unsigned starts = 0; // start attempts so far; lets a caller tell "started again" apart
    std::optional<std::chrono::system_clock::time_point> started_at;
    std::optional<sys::exit_status> last_exit;
    std::string reason; // what else ended the last run: "oom-killed", or empty
    std::string error;
};

class container {
  public:
    container(asio::any_io_executor ex, config::container cfg, spawner& sp, notifier& changed);

    asio::awaitable<void> run();

    void request_start();
    void request_stop(std::optional<std::chrono::milliseconds> timeout);
    void request_restart();
    void request_shutdown();
    // A reload: hold() stops a run (as stop does, with the grace) without counting as a stop by
    // hand, and keeps the container from starting until release(). While held and idle, the
    // definition may be replaced; release(true) then starts it, unless someone stopped it by hand.
    void hold();
    bool held_idle() const;
    void redefine(config::container cfg);
    // Returns whether it will start.
    bool release(bool start);
    // Read at the next stop only, so a reload changes it in place.
    void set_stop_timeout(std::chrono::milliseconds t) { cfg_.stop_timeout = t; }
    // run() has returned: nothing of the container runs nor will.
    bool ended() const { return ended_; }
    // Removed by a reload: gone from the supervisor's list; sessions still holding it end.
    bool removed() const { return removed_; }
    void mark_removed(std::string_view why);
    // Skips what is left of the stop grace: SIGKILL now.
    void kill_now();
    // Sends `sig` to the container's first process; throws ctr::error when none runs.
    void send_signal(int sig);
    // What its cgroup counts now; throws ctr::error when no process of it runs.
    cgroup::stats usage() const;

    // Its terminal or pipes, its log and scrollback, across its runs.
    tty::hub& terminal() { return hub_; }
    std::filesystem::path log_path() const { return spawner_.log_file(cfg_.name); }
    tty::log_limits log_limits() const { return spawner_.log_limits(); }
    // A new process in the running container (ctrctl exec). Throws ctr::error when it is not
    // running; set-up failures of the process come back in setup_error.
    asio::awaitable<spawn_result> exec(const spawner::exec_request& req);

    const status& current() const { return st_; }
    const config::container& config() const { return cfg_; }
    // Stopped, exited or failed, with nothing about to start it again.
    bool settled_down() const;

  private:
    void set_state(state s);
    bool stop_wanted() const { return !want_running_ || restart_pending_ || shutdown_ || hold_; }
    bool policy_restarts(const std::optional<sys::exit_status>& exit, bool start_failed) const;
    asio::awaitable<sys::exit_status> supervise(child_process& child);
    asio::awaitable<void> stop(child_process& child);
    // SIGKILL to the first process and to every other process in the cgroup.
    void kill_everything(child_process& child);
    // Once the first process is reaped: the run's end reason, with the cgroup emptied and gone.
    std::string close_cgroup(cgroup::group& cg);
    asio::awaitable<void> back_off(std::chrono::milliseconds delay);

    config::container cfg_;
    spawner& spawner_;
    tty::hub hub_;
    notifier& changed_;
    notifier wake_;
    asio::steady_timer timer_;
    backoff backoff_;
    child_process* child_ = nullptr;
    cgroup::group* cgroup_ = nullptr; // the run's, while child_ is set
    status st_;

    // Requests, read by run() after every wake-up.
    bool want_running_ = true;
    bool restart_pending_ = false;
    bool shutdown_ = false;
    bool kill_now_ = false;
    bool stopped_on_request_ = false; // the last run ended because someone asked it to
    bool stopped_by_hand_ = false;    // a stop request, not a reload or the policy, stopped it
    bool hold_ = false;
    bool ended_ = false;
    bool removed_ = false;
    std::optional<std::chrono::milliseconds> stop_timeout_;
};

} // namespace ctr::supervise
