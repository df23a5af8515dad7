#include "ctr/supervise/spawner.hpp"

#include <cmath>
#include <fcntl.h>
#include <sys/stat.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "ctr/core/awaitable.hpp"
#include "ctr/core/error.hpp"
#include "ctr/core/log.hpp"
#include "ctr/core/scope_guard.hpp"
#include "ctr/spawn/child.hpp"
#include "ctr/spawn/launch.hpp"
#include "ctr/spawn/userns.hpp"
#include "ctr/sys/files.hpp"

namespace ctr::supervise {

using namespace asio::experimental::awaitable_operators;
namespace fs = std::filesystem;

namespace {
// The image is shared by every container and never written; refuse anything but a real folder,
// checked again at each start since it may have changed since the config was read.
void check_image(const fs::path& image) {
    struct stat st {};
    if (::lstat(image.c_str(), &st) != 0) throw_errno("rootfs \"{}\"", image.string());
    if (S_ISLNK(st.st_mode)) fail("rootfs \"{}\" is a symlink", image.string());
    if (!S_ISDIR(st.st_mode)) fail("rootfs \"{}\" is not a directory", image.string());
}

cgroup::limits limits_of(const config::resource_limits& l) {
    cgroup::limits out{l.memory, l.pids, std::nullopt};
    if (l.cpu)
        out.cpu_quota_us = static_cast<std::uint64_t>(
            std::llround(*l.cpu * static_cast<double>(cgroup::cpu_period_us)));
    return out;
}

std::string describe(const cgroup::layout& l) {
    std::string out;
    for (const auto& h : l.hierarchies)
        out +=
            fmt::format("{}{} ({})", out.empty() ? "" : ", ", h.dir.string(),
                        h.controllers.empty() ? "no controllers"
                                              : fmt::format("{}", fmt::join(h.controllers, ",")));
    return out.empty() ? "none mounted" : out;
}
} // namespace

spawner::spawner(asio::any_io_executor ex, fs::path state_dir, networks* nets, int max_in_flight)
    : ex_(ex), state_dir_(std::move(state_dir)), nets_(nets), cgroups_(state_dir_),
      free_(max_in_flight), slot_freed_(ex) {
    const auto& layout = cgroups_.drv().hierarchies();
    log::info("supervisor", "cgroup {}: {}; containers under {}", cgroup::to_string(layout.ver),
              describe(layout), cgroups_.parent().string());
    // The state dir's lock is held (the supervisor took it first): these are a dead run's.
    if (int n = cgroups_.clean_leftovers())
        log::warn("supervisor", "removed {} cgroup(s) left by a previous run", n);
}

void spawner::finished(const std::string& name) {
    if (nets_) nets_->detach(name);
}

int spawner::mapping_userns(const config::id_range& r) {
    if (!mapping_ || mapping_->range != r) mapping_ = mapping{r, spawn::make_mapping_userns(r)};
    return mapping_->userns.get();
}

spawn::overlay_paths spawner::paths(const std::string& name) const {
    return {containers_dir() / name};
}

fs::path spawner::log_file(const std::string& name) const {
    return state_dir_ / "logs" / (name + ".log");
}

asio::awaitable<spawn_result> spawner::start(const config::container& c) {
    while (free_ == 0)
        co_await slot_freed_.wait();
    --free_;
    scope_guard give_back([this] {
        ++free_;
        slot_freed_.notify();
    });

    check_image(c.rootfs);
    auto p = paths(c.name);
    // Upper and work persist across the container's restarts; the mount itself lives only in
    // the child's mount namespace and dies with it.
    for (auto& d : {p.dir, p.upper(), p.work(), p.merged()})
        sys::make_dirs(d, 0700);
    spawn::prepare_overlay_dirs(p, c.userns);
    sys::make_dirs(log_file(c.name).parent_path(), 0700);
    fs::path hosts = p.dir / "hosts";
    bool networked = nets_ && nets_->prepare(c, hosts);
    if (networked && c.userns) spawn::give_to_mapped_root(hosts, *c.userns);
    spawn::plan plan = spawn::make_plan(c, p, networked ? hosts : fs::path{});
    spawn::host_trees trees;
    if (c.userns) trees = spawn::clone_host_trees(plan, mapping_userns(*c.userns));
    // Declared before the child, so a failure from here on kills the child first, then removes
    // the emptied cgroup.
    cgroup::group cg = cgroups_.create(c.name, limits_of(c.limits));

    unique_fd null = sys::open_file("/dev/null", O_RDONLY);
    unique_fd log = sys::open_file(log_file(c.name), O_WRONLY | O_APPEND | O_CREAT, 0640);
    spawn::launched child = spawn::launch(plan, {null.get(), log.get(), log.get()});
    trees = {}; // the child holds its own copies
    // Waiting at sync point 1, it has run none of its command yet: its first instruction, and
    // every process it forks, count against the container's limits.
    cg.place(child.pid());
    // Its network is ready before its command runs, so its first packet goes out.
    if (networked) nets_->attach(c.name, child.pid());
    scope_guard unplug([&] { finished(c.name); });

    // Recorded before the child may run, so a supervisor killed from here on leaves enough for
    // the next one to find and kill it (the start time guards against a reused PID).
    nlohmann::json state{{"pid", child.pid()},
                         {"start_time", sys::start_time(child.pid()).value_or(0)}};
    sys::write_file_atomic(p.dir / "state.json", state.dump());

    pid_t pid = child.pid();
    auto running = child.release();
    unplug.dismiss(); // from here on the lifecycle calls finished() once the child is reaped
    spawn_result result{std::move(cg), child_process(ex_, pid, std::move(running.pidfd)), {}};

    asio::posix::stream_descriptor report(ex_, running.report.release());
    spawn::failure f{};
    asio::steady_timer deadline(ex_, setup_deadline_);
    auto outcome =
        co_await (asio::async_read(report, asio::buffer(&f, sizeof f), ctr::as_tuple_awaitable) ||
                  deadline.async_wait(ctr::as_tuple_awaitable));
    if (outcome.index() == 1) {
        result.child.signal(SIGKILL);
        result.setup_error =
            fmt::format("set-up did not reach exec within {} s", setup_deadline_.count());
    } else {
        auto [ec, n] = std::get<0>(outcome);
        if (n == sizeof f)
            result.setup_error = spawn::describe(f, plan);
        else if (n != 0)
            result.setup_error = "set-up ended with a truncated failure report";
        // n == 0 at EOF: the report pipe closed at exec.
    }
    co_return result;
}

} // namespace ctr::supervise
