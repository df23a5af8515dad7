#include "ctr/supervise/container.hpp"

#include <signal.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/use_awaitable.hpp>

#include "ctr/core/awaitable.hpp"
#include "ctr/core/error.hpp"
#include "ctr/core/log.hpp"

namespace ctr::supervise {

using namespace asio::experimental::awaitable_operators;
using std::chrono::milliseconds;

namespace {
constexpr state all_states[] = {state::stopped, state::starting, state::running, state::stopping,
                                state::backoff, state::exited,   state::failed};

constexpr std::size_t scrollback_bytes = 64 * 1024;
// How long a run's output may take to reach EOF once its first process was reaped.
constexpr milliseconds drain_limit{500};

std::string seconds(std::chrono::steady_clock::duration d) {
    return fmt::format("{:.1f}s", std::chrono::duration<double>(d).count());
}
} // namespace

const char* to_string(state s) {
    switch (s) {
    case state::stopped:
        return "stopped";
    case state::starting:
        return "starting";
    case state::running:
        return "running";
    case state::stopping:
        return "stopping";
    case state::backoff:
        return "backoff";
    case state::exited:
        return "exited";
    case state::failed:
        return "failed";
    }
    return "?";
}

std::optional<state> parse_state(std::string_view s) {
    for (state st : all_states)
        if (s == to_string(st)) return st;
    return std::nullopt;
}

container::container(asio::any_io_executor ex, config::container cfg, spawner& sp,
                     notifier& changed)
    : cfg_(std::move(cfg)), spawner_(sp),
      hub_(ex, cfg_.name, tty::log_file(sp.log_file(cfg_.name), sp.log_limits()), scrollback_bytes),
      changed_(changed), wake_(ex), timer_(ex) {
    st_.name = cfg_.name;
}

asio::awaitable<spawn_result> container::exec(const spawner::exec_request& req) {
    if (!child_ || child_->reaped() || st_.current != state::running)
        fail("container {} is not running", cfg_.name);
    co_return co_await spawner_.exec(cfg_, child_->pidfd(), cgroup_, req);
}

void container::set_state(state s) {
    if (st_.current == s) return;
    log::debug(cfg_.name, "{} -> {}", to_string(st_.current), to_string(s));
    st_.current = s;
    changed_.notify();
}

bool container::settled_down() const {
    return !want_running_ && !child_ &&
           (st_.current == state::stopped || st_.current == state::exited ||
            st_.current == state::failed);
}

void container::request_start() {
    want_running_ = true;
    stopped_by_hand_ = false;
    wake_.notify();
}

void container::request_stop(std::optional<milliseconds> timeout) {
    want_running_ = false;
    stopped_by_hand_ = true;
    restart_pending_ = false;
    stop_timeout_ = timeout;
    wake_.notify();
}

void container::request_restart() {
    want_running_ = true;
    stopped_by_hand_ = false;
    // Only a live process needs stopping first; otherwise this is a plain start.
    if (child_ || st_.current == state::starting) restart_pending_ = true;
    wake_.notify();
}

void container::request_shutdown() {
    shutdown_ = true;
    want_running_ = false;
    wake_.notify();
}

void container::hold() {
    hold_ = true;
    wake_.notify();
}

bool container::held_idle() const {
    return hold_ && !child_ &&
           (st_.current == state::stopped || st_.current == state::exited ||
            st_.current == state::failed);
}

void container::redefine(config::container cfg) {
    if (child_) fail("container {} cannot change its definition while it runs", cfg_.name);
    cfg_ = std::move(cfg);
}

// A container the policy let go (exited, failed) gets a fresh try under its new definition, as
// `docker compose up` gives it; one stopped by hand stays stopped.
bool container::release(bool start) {
    hold_ = false;
    if (start && !stopped_by_hand_ && !shutdown_) {
        want_running_ = true;
        backoff_ = backoff();
    }
    wake_.notify();
    return want_running_ && !shutdown_;
}

void container::mark_removed(std::string_view why) {
    removed_ = true;
    // Attach clients get an exit frame with the reason; logs -f followers end with it.
    hub_.close(tty::run_end{std::nullopt, {}, std::string(why)});
    changed_.notify();
}

void container::kill_now() {
    kill_now_ = true;
    if (child_) kill_everything(*child_);
    wake_.notify();
}

void container::send_signal(int sig) {
    if (!child_ || st_.current != state::running) fail("container {} is not running", cfg_.name);
    child_->signal(sig);
}

cgroup::stats container::usage() const {
    if (!child_ || !cgroup_ || child_->reaped()) fail("container {} is not running", cfg_.name);
    return cgroup_->read_stats();
}

// The cgroup first: frozen (v1) or killed at once (v2), no process of it forks or exits while
// it is being killed. Its PID 1 gets SIGKILL directly too, in case the cgroup could not do it;
// the rest of its pid namespace dies with that one.
void container::kill_everything(child_process& child) {
    if (cgroup_) {
        try {
            auto killed = cgroup_->kill_all();
            log::debug(cfg_.name, "SIGKILL to {} process(es) of cgroup {}", killed.size(),
                       cgroup_->path().string());
        } catch (const std::exception& e) {
            log::warn(cfg_.name, "cannot kill its cgroup: {}", e.what());
        }
    }
    child.signal(SIGKILL);
}

// Its pid namespace died with its PID 1, so the cgroup is empty unless something joined it from
// outside; whatever did is killed too (waiting for it only then, briefly).
std::string container::close_cgroup(cgroup::group& cg) {
    std::string reason;
    try {
        if (cg.oom_killed()) reason = "oom-killed";
    } catch (const std::exception& e) {
        log::warn(cfg_.name, "cannot read its OOM kill count: {}", e.what());
    }
    try {
        // Freezing, listing and thawing an emptied cgroup costs more than the rmdir itself.
        auto left = cg.procs().empty() ? std::vector<unique_fd>{} : cg.kill_all();
        if (!left.empty()) {
            log::warn(cfg_.name, "killed {} process(es) left in its cgroup", left.size());
            cgroup::wait_exited(left, 1000);
        }
        cg.remove();
        log::debug(cfg_.name, "cgroup {} removed", cg.path().string());
    } catch (const std::exception& e) {
        log::warn(cfg_.name, "cannot remove its cgroup: {}", e.what());
    }
    return reason;
}

bool container::policy_restarts(const std::optional<sys::exit_status>& exit,
                                bool start_failed) const {
    switch (cfg_.restart) {
    case config::restart_policy::no:
        return false;
    case config::restart_policy::always:
        return true;
    case config::restart_policy::on_failure:
        return start_failed || !exit || !exit->exited() || exit->code != 0;
    }
    return false;
}

asio::awaitable<void> container::run() {
    while (!shutdown_) {
        if (!want_running_ || hold_) {
            if (st_.current != state::exited && st_.current != state::failed)
                set_state(state::stopped);
            co_await wake_.wait();
            continue;
        }
        restart_pending_ = false;
        stop_timeout_.reset();
        ++st_.starts;
        set_state(state::starting);
        auto began = std::chrono::steady_clock::now();

        // The cgroup before the child: the child is reaped before its cgroup goes.
        std::optional<cgroup::group> cg;
        std::optional<child_process> child;
        std::string error;
        tty::run_io r_io;
        try {
            auto r = co_await spawner_.start(cfg_);
            if (r.cgroup) cg.emplace(std::move(*r.cgroup));
            child.emplace(std::move(r.child));
            error = std::move(r.setup_error);
            r_io = std::move(r.io);
        } catch (const std::exception& e) {
            error = e.what();
        }
        bool start_failed = !error.empty();
        std::optional<sys::exit_status> exit;
        if (child) {
            child_ = &*child;
            cgroup_ = cg ? &*cg : nullptr;
            st_.pid = child->pid();
            if (!start_failed) {
                st_.error.clear();
                st_.started_at = std::chrono::system_clock::now();
                log::info(cfg_.name, "running as pid {}", child->pid());
                hub_.begin(std::move(r_io), fmt::format("started, pid {}", child->pid()));
                set_state(state::running);
            }
            stopped_on_request_ = false;
            exit = co_await supervise(*child);
            spawner_.finished(cfg_.name);
            cgroup_ = nullptr;
            st_.reason = cg ? close_cgroup(*cg) : "";
            st_.last_exit = exit;
            if (!start_failed) {
                auto how = sys::describe(*exit);
                if (!st_.reason.empty()) how += fmt::format(" ({})", st_.reason);
                // Named, not braced in the co_await: GCC 12 destroys such temporaries twice.
                tty::run_end ended{exit, st_.reason, {}};
                co_await hub_.end(std::move(ended), how, drain_limit);
            }
            st_.pid = 0;
            st_.started_at.reset();
            child_ = nullptr;
        }
        auto lasted = std::chrono::steady_clock::now() - began;
        if (start_failed) {
            st_.error = error;
            log::error(cfg_.name, "failed to start: {}", error);
            hub_.mark(fmt::format("failed to start: {}", error));
        } else {
            log::info(cfg_.name, "{}{} after {}", sys::describe(*exit),
                      st_.reason.empty() ? "" : fmt::format(" ({})", st_.reason), seconds(lasted));
        }

        if (shutdown_) break;
        // Stopped on request (a stop, or the first half of a restart): the requests alone decide
        // what comes next, never the policy. A restart is neither backed off nor counted.
        if (stopped_on_request_ || restart_pending_) continue;
        if (!want_running_ || hold_) continue; // stopped while starting stays stopped
        if (!policy_restarts(exit, start_failed)) {
            want_running_ = false;
            set_state(start_failed ? state::failed : state::exited);
            continue;
        }
        auto delay = backoff_.after_run(
            start_failed ? milliseconds(0) : std::chrono::duration_cast<milliseconds>(lasted));
        log::info(cfg_.name, "restarting in {} ms ({} policy)", delay.count(),
                  config::to_string(cfg_.restart));
        co_await back_off(delay);
        if (want_running_ && !shutdown_ && !hold_) ++st_.restarts;
    }
    set_state(state::stopped);
    ended_ = true;
    changed_.notify();
}

// Waits out the delay unless a request cuts it short: stop ends it, start skips it.
asio::awaitable<void> container::back_off(milliseconds delay) {
    set_state(state::backoff);
    timer_.expires_after(delay);
    while (want_running_ && !restart_pending_ && !shutdown_ && !hold_ &&
           std::chrono::steady_clock::now() < timer_.expiry()) {
        co_await (timer_.async_wait(ctr::as_tuple_awaitable) || wake_.wait());
    }
    timer_.cancel();
}

// Watches a live child until it exits or someone asks it to stop.
asio::awaitable<sys::exit_status> container::supervise(child_process& child) {
    while (!child.reaped()) {
        if (stop_wanted()) {
            stopped_on_request_ = true;
            co_await stop(child);
            break;
        }
        co_await (child.wait_exit() || wake_.wait());
    }
    co_return co_await child.wait_exit();
}

// SIGTERM, the grace, then SIGKILL; a second interrupt of the supervisor skips the grace.
asio::awaitable<void> container::stop(child_process& child) {
    set_state(state::stopping);
    auto grace = stop_timeout_.value_or(cfg_.stop_timeout);
    if (kill_now_)
        kill_everything(child);
    else
        child.signal(SIGTERM);
    asio::steady_timer deadline(timer_.get_executor(), grace);
    while (!child.reaped()) {
        auto r = co_await (child.wait_exit() || deadline.async_wait(ctr::as_tuple_awaitable) ||
                           wake_.wait());
        if (r.index() == 1) {
            log::warn(cfg_.name,
                      "did not stop within {} ms of SIGTERM: sending SIGKILL to every process in "
                      "its cgroup",
                      grace.count());
            kill_everything(child);
            co_await child.wait_exit();
        } else if (r.index() == 2 && kill_now_) {
            kill_everything(child);
        }
    }
}

} // namespace ctr::supervise
