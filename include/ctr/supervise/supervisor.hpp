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
#include "ctr/core/notifier.hpp"
#include "ctr/supervise/container.hpp"
#include "ctr/supervise/networks.hpp"
#include "ctr/supervise/reload_plan.hpp"
#include "ctr/supervise/spawner.hpp"
#include "ctr/supervise/state_dir.hpp"

namespace ctr::supervise {

// What a reload did, for its log line and ctrctl's answer.
struct reload_summary {
    reload_plan plan;
    std::vector<std::string> failed; // "NAME: why" for each start the reload filed that failed
    std::string describe() const;
};

class supervisor {
  public:
    // Takes the state dir's lock, clears what a killed earlier run left and blocks the
    // supervisor's signals into a signalfd. Throws on failure: nothing has started yet.
    // `socket_override` (--socket, CTR_SOCKET) replaces the file's socket, across reloads too.
    supervisor(asio::io_context& io, config::config cfg,
               std::filesystem::path socket_override = {});
    ~supervisor();

    // Starts every container and returns once a SIGTERM/SIGINT (or shutdown()) has stopped them
    // all and their files are removed.
    asio::awaitable<void> run();
    void shutdown();
    bool shutting_down() const { return shutting_down_; }

    // Re-reads the config file and makes the difference (reload_plan.hpp): containers removed,
    // recreated or added, networks through networks::reconcile. An invalid file changes nothing
    // and throws its config_error. A reload filed while another runs waits for it, then reads the
    // file afresh. Returns once every container it stopped is stopped and every start it filed
    // has run or failed (those starts run concurrently). Refused while shutting down.
    asio::awaitable<reload_summary> reload();

    // Shared: a control session keeps a container a reload removed alive until it ends.
    std::shared_ptr<container> find(std::string_view name);
    const std::vector<std::shared_ptr<container>>& containers() const { return containers_; }
    // Notified on every state change of every container.
    notifier& changed() { return changed_; }
    const config::config& config() const { return cfg_; }
    networks& nets() { return nets_; }

  private:
    asio::awaitable<void> read_signals();
    void on_signal(int sig);
    void kill_all_now();
    void launch(const std::shared_ptr<container>& c);
    asio::awaitable<reload_summary> reload_now();
    // Awaits `done()`, failing when a shutdown begins meanwhile.
    template <typename Pred> asio::awaitable<void> until(Pred done);
    void rewrite_hosts_files();

    asio::io_context& io_;
    config::config cfg_;
    state_dir state_;
    networks nets_;
    notifier changed_;
    spawner spawner_;
    std::vector<std::shared_ptr<container>> containers_;
    asio::posix::stream_descriptor signals_;
    std::filesystem::path file_socket_; // as the file said, before any override
    int live_ = 0;                      // lifecycles and reloads under way
    bool shutting_down_ = false;
    bool reloading_ = false;
};

} // namespace ctr::supervise
