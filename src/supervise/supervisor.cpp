#include "ctr/supervise/supervisor.hpp"

#include <sys/signalfd.h>

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include "ctr/core/awaitable.hpp"
#include "ctr/core/error.hpp"
#include "ctr/core/log.hpp"
#include "ctr/core/scope_guard.hpp"
#include "ctr/sys/files.hpp"
#include "ctr/sys/process.hpp"
#include "ctr/sys/signals.hpp"

namespace ctr::supervise {

namespace fs = std::filesystem;

namespace {
const config::container* config_of(const config::config& cfg, std::string_view name) {
    for (auto& c : cfg.containers)
        if (c.name == name) return &c;
    return nullptr;
}

std::string list(const char* what, const std::vector<std::string>& names) {
    if (names.empty()) return {};
    std::string out = fmt::format("; {}: ", what);
    for (std::size_t i = 0; i < names.size(); ++i)
        out += (i ? ", " : "") + names[i];
    return out;
}
} // namespace

std::string reload_summary::describe() const {
    auto& c = plan.containers;
    auto& n = plan.networks;
    auto text = fmt::format("{} container(s) unchanged", c.unchanged.size() + c.updated.size());
    text += list("added", c.added) + list("removed", c.removed) + list("recreated", c.recreated);
    text += list("stop_timeout updated", c.updated);
    text += list("networks added", n.added) + list("networks removed", n.removed) +
            list("networks rebuilt", n.rebuilt);
    text += list("failed to start", failed);
    text += list("needs a restart", plan.needs_restart);
    return text;
}

supervisor::supervisor(asio::io_context& io, config::config cfg, fs::path socket_override)
    : io_(io), cfg_(std::move(cfg)), state_(cfg_.sup.state_dir),
      nets_(io.get_executor(), cfg_, cfg_.sup.state_dir / "networks"), changed_(io.get_executor()),
      spawner_(io.get_executor(), cfg_.sup.state_dir, &nets_,
               {cfg_.sup.log_dir, {cfg_.sup.log_max_size, cfg_.sup.log_max_files}}),
      signals_(io, sys::block_into_signalfd({SIGTERM, SIGINT, SIGHUP, SIGCHLD}).release()) {
    sys::become_subreaper();
    // A reload reads the same file whatever the working directory has become.
    cfg_.file = fs::absolute(cfg_.file);
    file_socket_ = cfg_.sup.socket;
    if (!socket_override.empty()) cfg_.sup.socket = std::move(socket_override);
    // Start-up is a reload from nothing: every container is added.
    for (auto& name : plan_reload({}, cfg_).containers.added)
        containers_.push_back(std::make_shared<container>(io.get_executor(), *config_of(cfg_, name),
                                                          spawner_, changed_));
}

supervisor::~supervisor() = default;

std::shared_ptr<container> supervisor::find(std::string_view name) {
    for (auto& c : containers_)
        if (c->config().name == name) return c;
    return nullptr;
}

// Each lifecycle catches its own failures; an exception reaching this handler is a bug, logged
// rather than lost. The handler holds the container: a reload may drop it from the list first.
void supervisor::launch(const std::shared_ptr<container>& c) {
    ++live_;
    asio::co_spawn(
        io_, c->run(),
        [this, c, report = log_escape(c->config().name, "lifecycle ended")](std::exception_ptr e) {
            --live_;
            report(e);
            changed_.notify();
        });
}

asio::awaitable<void> supervisor::run() {
    asio::co_spawn(io_, read_signals(), log_escape("supervisor", "signal reader ended"));
    asio::co_spawn(io_, nets_.watch(), log_escape("network", "netlink watch ended"));
    log::info("supervisor", "starting {} container(s)", containers_.size());
    for (auto& c : containers_)
        launch(c);
    while (!(shutting_down_ && live_ == 0))
        co_await changed_.wait();
    signals_.close();
    nets_.close();
    state_.clean();
    log::info("supervisor", "all containers stopped; state removed");
}

void supervisor::shutdown() {
    if (shutting_down_) return;
    shutting_down_ = true;
    nets_.stop_repairs();
    log::info("supervisor", "stopping {} container(s)", containers_.size());
    for (auto& c : containers_)
        c->request_shutdown();
    changed_.notify();
}

void supervisor::kill_all_now() {
    log::warn("supervisor", "second interrupt: killing every container now");
    for (auto& c : containers_)
        c->kill_now();
}

void supervisor::on_signal(int sig) {
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        if (shutting_down_ && sig == SIGINT)
            kill_all_now();
        else
            shutdown();
        break;
    case SIGHUP:
        // reload() logs its outcome; what escapes it is logged here and changes nothing else.
        asio::co_spawn(
            io_,
            [this]() -> asio::awaitable<void> {
                try {
                    co_await reload();
                } catch (const std::exception& e) {
                    log::error("supervisor", "SIGHUP: reload failed: {}", e.what());
                }
            },
            log_escape("supervisor", "reload"));
        break;
    case SIGCHLD: {
        // Containers are reaped through their pidfds; this only catches strays.
        int n = sys::reap_strays([](pid_t pid) { return child_process::owns(pid); });
        if (n) log::debug("supervisor", "reaped {} stray process(es)", n);
        break;
    }
    default:
        break;
    }
}

asio::awaitable<void> supervisor::read_signals() {
    signalfd_siginfo info{};
    for (;;) {
        co_await signals_.async_read_some(asio::buffer(&info, sizeof info), asio::use_awaitable);
        on_signal(static_cast<int>(info.ssi_signo));
    }
}

template <typename Pred> asio::awaitable<void> supervisor::until(Pred done) {
    while (!done()) {
        if (shutting_down_) fail("the supervisor is shutting down");
        co_await changed_.wait();
    }
}

// One at a time: a reload filed while another runs waits for it and then reads the file afresh,
// so the last one filed leaves the supervisor as its file then says, and no container is
// stopped or started twice by two plans made from the same running state.
asio::awaitable<reload_summary> supervisor::reload() {
    if (shutting_down_) fail("the supervisor is shutting down");
    // Counted as live: run() waits for it to give up before it tears the networks down.
    ++live_;
    scope_guard done([this] {
        --live_;
        changed_.notify();
    });
    co_await until([this] { return !reloading_; });
    reloading_ = true;
    scope_guard unlock([this] { reloading_ = false; });
    try {
        auto summary = co_await reload_now();
        log::info("supervisor", "reloaded {}: {}", cfg_.file.string(), summary.describe());
        co_return summary;
    } catch (const std::exception& e) {
        log::error("supervisor", "reload of {} failed: {}", cfg_.file.string(), e.what());
        throw;
    }
}

asio::awaitable<reload_summary> supervisor::reload_now() {
    // Everything that can refuse the file does so before anything changes.
    config::config incoming = config::load(cfg_.file);
    reload_summary sum;
    auto fixed = keep_fixed_keys(cfg_.sup, file_socket_, incoming);
    sum.plan = plan_reload(cfg_, incoming);
    sum.plan.needs_restart = std::move(fixed);
    auto& plan = sum.plan;
    for (auto& name : nets_.displaced(incoming)) {
        auto& c = plan.containers;
        auto moved = std::erase(c.unchanged, name) + std::erase(c.updated, name);
        if (moved) c.recreated.push_back(name);
    }
    auto fresh = plan.networks.added;
    fresh.insert(fresh.end(), plan.networks.rebuilt.begin(), plan.networks.rebuilt.end());
    if (auto bad = nets_.check(incoming, fresh); !bad.empty()) fail("{}", bad.front());
    for (auto& key : plan.needs_restart)
        log::warn("supervisor",
                  "reload: [supervisor] {} changed; it needs a restart, until then "
                  "the running value stays",
                  key);

    // New containers are made before anything stops (opening a log file may fail): from here on
    // nothing may throw, or held containers would stay held and removed ones listed.
    std::vector<std::shared_ptr<container>> added;
    for (auto& def : incoming.containers)
        if (!find(def.name))
            added.push_back(
                std::make_shared<container>(io_.get_executor(), def, spawner_, changed_));

    // 1. Whatever goes or changes stops, all at once, each with its own grace.
    std::vector<std::shared_ptr<container>> removed, recreated;
    for (auto& name : plan.containers.removed) {
        auto c = find(name);
        c->request_shutdown();
        removed.push_back(std::move(c));
    }
    for (auto& name : plan.containers.recreated) {
        auto c = find(name);
        c->hold();
        recreated.push_back(std::move(c));
    }
    co_await until([&] {
        return std::all_of(removed.begin(), removed.end(), [](auto& c) { return c->ended(); }) &&
               std::all_of(recreated.begin(), recreated.end(),
                           [](auto& c) { return c->held_idle(); });
    });

    // 2. The new desired state: networks reconciled to it, definitions replaced, the list in
    // the new file's order.
    for (auto& c : removed) {
        try {
            sys::remove_tree(spawner_.paths(c->config().name).dir);
        } catch (const std::exception& e) {
            // Left for the next start-up's clean-up; the container goes all the same.
            log::warn(c->config().name, "reload: {}", e.what());
        }
        c->mark_removed("container removed by a reload");
        log::info(c->config().name, "removed");
    }
    try {
        nets_.update(incoming, plan.networks.rebuilt);
    } catch (const std::exception& e) {
        // The containers still follow the file; a repair retries what the kernel refused.
        log::error("network", "reload: {}", e.what());
    }
    asio::co_spawn(io_, nets_.watch(), log_escape("network", "netlink watch ended"));
    std::vector<std::shared_ptr<container>> next;
    for (auto& def : incoming.containers) {
        auto c = find(def.name);
        if (!c) {
            auto made = std::find_if(added.begin(), added.end(),
                                     [&](auto& a) { return a->config().name == def.name; });
            c = *made;
        } else if (std::find(recreated.begin(), recreated.end(), c) != recreated.end()) {
            c->redefine(def);
        } else {
            c->set_stop_timeout(def.stop_timeout);
        }
        next.push_back(std::move(c));
    }
    containers_ = std::move(next);
    cfg_ = std::move(incoming);
    tty::log_limits limits{cfg_.sup.log_max_size, cfg_.sup.log_max_files};
    spawner_.set_log_limits(limits);
    for (auto& c : containers_)
        c->terminal().set_log_limits(limits);
    rewrite_hosts_files();
    changed_.notify();

    // 3. Starts, filed at once and run concurrently; the answer waits until each ran or failed.
    std::vector<std::pair<std::shared_ptr<container>, unsigned>> starting;
    for (auto& c : recreated) {
        unsigned before = c->current().starts;
        if (c->release(true)) starting.emplace_back(c, before);
    }
    for (auto& c : added) {
        launch(c);
        starting.emplace_back(c, 0);
    }
    auto settled = [](const container& c, unsigned before) {
        auto& st = c.current();
        // settled_down: stopped by hand before its first start, which then never comes.
        return c.removed() || c.settled_down() ||
               (st.starts > before && st.current != state::starting &&
                st.current != state::stopping);
    };
    co_await until([&] {
        return std::all_of(starting.begin(), starting.end(),
                           [&](auto& s) { return settled(*s.first, s.second); });
    });
    for (auto& [c, before] : starting) {
        auto& st = c->current();
        if (st.current == state::running) continue;
        sum.failed.push_back(
            fmt::format("{}: {}", st.name, st.error.empty() ? to_string(st.current) : st.error));
    }
    co_return sum;
}

// A running member's /etc/hosts is bound from its file, so it is rewritten in place (a new file
// would not reach the container), and only when its network's member set changed.
void supervisor::rewrite_hosts_files() {
    for (auto& c : containers_) {
        if (c->current().pid == 0) continue;
        auto text = nets_.hosts_text(c->config());
        if (!text) continue;
        auto file = spawner_.paths(c->config().name).dir / "hosts";
        auto now = sys::read_file(file);
        if (!now || *now == *text) continue;
        try {
            sys::write_file(file, *text);
        } catch (const std::exception& e) {
            log::warn(c->config().name, "cannot update its /etc/hosts: {}", e.what());
        }
    }
}

} // namespace ctr::supervise
