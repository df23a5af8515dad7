// Starts containers: a bounded number in flight at once (starting 50 must not take 50 times one,
// nor fork 50 at the same instant), each waited for until exec or its set-up failure.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include <asio/awaitable.hpp>

#include "ctr/cgroup/tree.hpp"
#include "ctr/config/config.hpp"
#include "ctr/core/notifier.hpp"
#include "ctr/spawn/init_image.hpp"
#include "ctr/spawn/launch.hpp"
#include "ctr/spawn/plan.hpp"
#include "ctr/supervise/child_process.hpp"
#include "ctr/supervise/networks.hpp"
#include "ctr/tty/hub.hpp"

namespace ctr::supervise {

struct spawn_result {
    // The container's cgroup, which its first process entered before its command ran; the
    // lifecycle holds it for the run and removes it once that process is reaped. Declared
    // first, so dropping a result kills and reaps the child before its cgroup goes.
    std::optional<cgroup::group> cgroup;
    child_process child;
    std::string setup_error; // empty when the command was exec'd
    tty::run_io io;          // its terminal master, or its pipes; empty when set-up failed
};

class spawner {
  public:
    // `nets` (may be null: no networks) gives networked containers their port before they run.
    // Probes the host's cgroups and clears the cgroups a killed earlier run on the same state
    // dir left; throws when the supervisor's cgroup folders cannot be made.
    struct output_settings {
        std::filesystem::path log_dir; // empty: state_dir/logs
        tty::log_limits limits;
    };
    spawner(asio::any_io_executor ex, std::filesystem::path state_dir, networks* nets,
            output_settings out = {}, int max_in_flight = 16);

    // Throws ctr::error / std::system_error when no process could be made at all.
    asio::awaitable<spawn_result> start(const config::container& c);

    // A new process in the running container whose first process is `container_pidfd`, placed
    // in its cgroup `cg` (may be null). Set-up failures come back in setup_error.
    struct exec_request {
        std::vector<std::string> argv, env; // env: K=V, over the container's
        std::string workdir;                // empty: the container's
        bool tty = false, stdin_open = false;
    };
    asio::awaitable<spawn_result> exec(const config::container& c, int container_pidfd,
                                       cgroup::group* cg, const exec_request& req);

    // The container's first process has been reaped: release what its run held.
    void finished(const std::string& name);

    spawn::overlay_paths paths(const std::string& name) const;
    std::filesystem::path containers_dir() const { return state_dir_ / "containers"; }
    std::filesystem::path log_file(const std::string& name) const;
    tty::log_limits log_limits() const { return log_limits_; }
    void set_log_limits(tty::log_limits l) { log_limits_ = l; }

  private:
    class child_stdio {
      public:
        child_stdio(bool terminal, bool stdin_open);
        spawn::stdio_fds for_child() const;
        void take_terminal(unique_fd master) { hub_.terminal = std::move(master); }
        tty::run_io for_hub();

      private:
        bool terminal_;
        unique_fd child_in_, child_out_, child_err_;
        tty::run_io hub_;
    };
    // Sync point 0 (spawn/child.hpp): true once the child made its network namespace, false
    // when it died first (its reason is then on the report pipe). Throws past the set-up deadline.
    asio::awaitable<bool> namespaces_made(const spawn::launched& child, const std::string& name);
    asio::awaitable<void> await_exec(spawn_result& result, spawn::launched::running& running,
                                     const spawn::plan& plan, child_stdio io);
    // The sealed ctr-init image, made at the first start of a container with init = true and
    // kept: every such container execs the same copy. Throws when ctr-init cannot be read, and
    // tries again at the next start.
    int init_image();
    // The user namespace that images are id-mapped through, made at the first `userns = true`
    // start and kept: every such container shares the [supervisor] range.
    int mapping_userns(const config::id_range& r);
    struct mapping {
        config::id_range range;
        unique_fd userns;
    };
    std::optional<mapping> mapping_;

    asio::any_io_executor ex_;
    std::filesystem::path state_dir_;
    networks* nets_;
    std::filesystem::path log_dir_;
    tty::log_limits log_limits_;
    cgroup::tree cgroups_;
    int free_;
    notifier slot_freed_;
    std::chrono::seconds setup_deadline_{10};
    std::optional<spawn::init_image> init_;
};

} // namespace ctr::supervise
