#include "ctr/supervise/supervisor.hpp"

#include <sys/signalfd.h>

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include "ctr/core/awaitable.hpp"
#include "ctr/core/log.hpp"
#include "ctr/sys/process.hpp"
#include "ctr/sys/signals.hpp"

namespace ctr::supervise {

supervisor::supervisor(asio::io_context& io, config::config cfg)
    : io_(io), cfg_(std::move(cfg)), state_(cfg_.sup.state_dir),
      nets_(io.get_executor(), cfg_, cfg_.sup.state_dir / "networks"), changed_(io.get_executor()),
      spawner_(io.get_executor(), cfg_.sup.state_dir, &nets_,
               {cfg_.sup.log_dir, {cfg_.sup.log_max_size, cfg_.sup.log_max_files}}),
      signals_(io, sys::block_into_signalfd({SIGTERM, SIGINT, SIGHUP, SIGCHLD}).release()) {
    sys::become_subreaper();
    for (auto& c : cfg_.containers)
        containers_.push_back(
            std::make_unique<container>(io.get_executor(), c, spawner_, changed_));
}

supervisor::~supervisor() = default;

container* supervisor::find(std::string_view name) {
    for (auto& c : containers_)
        if (c->config().name == name) return c.get();
    return nullptr;
}

asio::awaitable<void> supervisor::run() {
    asio::co_spawn(io_, read_signals(), log_escape("supervisor", "signal reader ended"));
    asio::co_spawn(io_, nets_.watch(), log_escape("network", "netlink watch ended"));
    log::info("supervisor", "starting {} container(s)", containers_.size());
    for (auto& c : containers_) {
        ++live_;
        // Each lifecycle catches its own failures; an exception reaching this handler is a bug,
        // logged rather than lost.
        asio::co_spawn(
            io_, c->run(),
            [this, report = log_escape(c->config().name, "lifecycle ended")](std::exception_ptr e) {
                --live_;
                report(e);
                changed_.notify();
            });
    }
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
        log::info("supervisor", "SIGHUP: reload is not implemented yet; ignored");
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

} // namespace ctr::supervise
