// The supervisor: every container's lifecycle and the supervisor's own signals, on one
// io_context, one thread.
#pragma once

#include <list>
#include <memory>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include "ctr/config/config.hpp"
#include "ctr/supervise/container.hpp"
#include "ctr/supervise/networks.hpp"
#include "ctr/supervise/notifier.hpp"
#include "ctr/supervise/spawner.hpp"
#include "ctr/supervise/state_dir.hpp"

namespace ctr::supervise {

class supervisor {
  public:
    // Takes the state dir's lock, clears what a killed earlier run left and blocks the
    // supervisor's signals into a signalfd. Throws on failure: nothing has started yet.
    supervisor(asio::io_context& io, config::config cfg);
    ~supervisor();

    // Starts every container and returns once a SIGTERM/SIGINT (or shutdown()) has stopped them
    // all and their files are removed.
    asio::awaitable<void> run();
    void shutdown();
    bool shutting_down() const { return shutting_down_; }

    container* find(std::string_view name);
    const std::vector<std::unique_ptr<container>>& containers() const { return containers_; }
    // Notified on every state change of every container.
    notifier& changed() { return changed_; }
    const config::config& config() const { return cfg_; }
    networks& nets() { return nets_; }

  private:
    asio::awaitable<void> read_signals();
    void on_signal(int sig);
    void kill_all_now();

    asio::io_context& io_;
    config::config cfg_;
    state_dir state_;
    networks nets_;
    notifier changed_;
    spawner spawner_;
    std::vector<std::unique_ptr<container>> containers_;
    asio::posix::stream_descriptor signals_;
    int live_ = 0;
    bool shutting_down_ = false;
};

} // namespace ctr::supervise
