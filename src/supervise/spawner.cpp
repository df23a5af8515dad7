#include "ctr/supervise/spawner.hpp"

#include <cmath>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/posix/stream_descriptor.hpp>
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
void make_pipe(unique_fd& read, unique_fd& write, const char* what) {
    auto ends = sys::make_pipe(what);
    read = std::move(ends.read);
    write = std::move(ends.write);
}
} // namespace

// A new process's stdio: the child's ends (borrowed by launch, closed here once it has them) and
// the supervisor's, which go to the hub.
spawner::child_stdio::child_stdio(bool terminal, bool stdin_open) : terminal_(terminal) {
    if (terminal) return;
    make_pipe(hub_.out, child_out_, "stdout");
    make_pipe(hub_.err, child_err_, "stderr");
    if (stdin_open)
        make_pipe(child_in_, hub_.in, "stdin");
    else
        child_in_ = sys::open_file("/dev/null", O_RDONLY);
}

spawn::stdio_fds spawner::child_stdio::for_child() const {
    if (terminal_) return {.terminal = true};
    return {child_in_.get(), child_out_.get(), child_err_.get(), false};
}

tty::run_io spawner::child_stdio::for_hub() {
    // The child has its copies: holding ours would hide the EOF of its output.
    child_in_.reset();
    child_out_.reset();
    child_err_.reset();
    return std::move(hub_);
}

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

spawner::spawner(asio::any_io_executor ex, fs::path state_dir, networks* nets, output_settings out,
                 int max_in_flight)
    : ex_(ex), state_dir_(std::move(state_dir)), nets_(nets),
      log_dir_(out.log_dir.empty() ? state_dir_ / "logs" : std::move(out.log_dir)),
      log_limits_(out.limits), cgroups_(state_dir_), free_(max_in_flight), slot_freed_(ex) {
    sys::make_dirs(log_dir_, 0700);
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

int spawner::init_image() {
    if (!init_) {
        auto binary = spawn::init_image::beside_self();
        try {
            init_.emplace(binary);
        } catch (const std::exception& e) {
            fail("init = true needs ctr-init beside the supervisor: {}", e.what());
        }
        log::info("supervisor", "ctr-init from \"{}\" sealed in a memfd", binary.string());
    }
    return init_->fd();
}

int spawner::mapping_userns(const config::id_range& r) {
    if (!mapping_ || mapping_->range != r) mapping_ = mapping{r, spawn::make_mapping_userns(r)};
    return mapping_->userns.get();
}

spawn::overlay_paths spawner::paths(const std::string& name) const {
    return {containers_dir() / name};
}

fs::path spawner::log_file(const std::string& name) const {
    return log_dir_ / (name + ".log");
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
    int init_fd = c.init ? init_image() : -1;
    auto p = paths(c.name);
    // Upper and work persist across the container's restarts; the mount itself lives only in
    // the child's mount namespace and dies with it.
    for (auto& d : {p.dir, p.upper(), p.work(), p.merged()})
        sys::make_dirs(d, 0700);
    // A previous start of this run left it: its overlay is gone, and the machine has not crashed.
    sys::remove_tree(p.volatile_marker());
    spawn::prepare_overlay_dirs(p, c.userns);
    fs::path hosts = p.dir / "hosts";
    bool networked = nets_ && nets_->prepare(c, hosts);
    if (networked && c.userns) spawn::give_to_mapped_root(hosts, *c.userns);
    spawn::plan plan = spawn::make_plan(c, p, networked ? hosts : fs::path{});
    if (c.init) spawn::use_init(plan, init_fd);
    spawn::host_trees trees;
    if (c.userns) trees = spawn::clone_host_trees(plan, mapping_userns(*c.userns));
    // Declared before the child, so a failure from here on kills the child first, then removes
    // the emptied cgroup.
    cgroup::group cg = cgroups_.create(c.name, limits_of(c.limits));
    // The child moves itself in before anything else: its first instruction of set-up, and
    // every process it forks, count against the container's limits.
    for (const auto& dir : cg.dirs())
        plan.cgroup_procs.push_back((dir / "cgroup.procs").string());

    child_stdio io(c.tty, c.stdin_open);
    spawn::launched child = spawn::launch(plan, io.for_child());
    trees = {}; // the child holds its own copies
    // Its network is ready before its command runs, so its first packet goes out.
    if (networked) {
        bool made = co_await namespaces_made(child, c.name);
        try {
            if (made) nets_->attach(c.name, child.pid());
        } catch (const std::exception& e) {
            // Its namespace gone with it (an OOM kill in its cgroup, say) is the reason to give.
            pollfd exited{child.pidfd(), POLLIN, 0};
            if (::poll(&exited, 1, 0) == 1)
                fail("died during set-up, before its network was attached ({})", e.what());
            throw;
        }
    }
    scope_guard unplug([&] { finished(c.name); });

    // Recorded before the child may go on past sync point 1 (before it, only its cgroup and
    // namespaces, and PDEATHSIG kills it with us), so a supervisor killed from here on leaves
    // enough for the next one to find and kill it (the start time guards against a reused PID).
    nlohmann::json state{{"pid", child.pid()},
                         {"start_time", sys::start_time(child.pid()).value_or(0)}};
    // Without fsync: the case to survive is the supervisor being killed, and rename is atomic
    // for that; after a crash of the machine there is no process left to kill.
    sys::replace_file(p.dir / "state.json", state.dump());

    pid_t pid = child.pid();
    auto running = child.release();
    unplug.dismiss(); // from here on the lifecycle calls finished() once the child is reaped
    spawn_result result{std::move(cg), child_process(ex_, pid, std::move(running.pidfd)), {}, {}};
    co_await await_exec(result, running, plan, std::move(io));
    // The child shared our memory until now, and a set*id call of its (a user namespace's root,
    // `user =`) marked that memory non-dumpable (commit_creds): it has left it, so make ours
    // dumpable again, or the supervisor would lose its core dumps for the rest of its run.
    ::prctl(PR_SET_DUMPABLE, 1);
    co_return result;
}

asio::awaitable<spawn_result> spawner::exec(const config::container& c, int container_pidfd,
                                            cgroup::group* cg, const exec_request& req) {
    spawn::plan plan = spawn::make_exec_plan(c, req.argv, req.env, req.workdir, req.tty);
    child_stdio io(req.tty, req.stdin_open);
    int namespaces =
        CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;
    if (c.userns) namespaces |= CLONE_NEWUSER;
    spawn::launched child = spawn::launch_exec(plan, io.for_child(), container_pidfd, namespaces);
    if (cg) cg->place(child.pid());
    pid_t pid = child.pid();
    auto running = child.release();
    spawn_result result{std::nullopt, child_process(ex_, pid, std::move(running.pidfd)), {}, {}};
    co_await await_exec(result, running, plan, std::move(io));
    co_return result;
}

asio::awaitable<bool> spawner::namespaces_made(const spawn::launched& child,
                                               const std::string& name) {
    // Borrowed from `child`, which closes it. Asio leaves it non-blocking: release() sends a
    // single byte, which a socket always takes.
    asio::posix::stream_descriptor sync(ex_, child.sync_fd());
    scope_guard give_back([&] { sync.release(); });
    asio::steady_timer deadline(ex_, setup_deadline_);
    for (;;) {
        auto outcome = co_await (
            sync.async_wait(asio::posix::descriptor_base::wait_read, ctr::as_tuple_awaitable) ||
            deadline.async_wait(ctr::as_tuple_awaitable));
        if (outcome.index() == 1)
            fail("{}: no network namespace within {} s of the clone", name,
                 setup_deadline_.count());
        if (auto [ec] = std::get<0>(outcome); ec)
            throw std::system_error(ec, fmt::format("wait on the sync socket of {}", name));
        char made = 0;
        ssize_t n = ::recv(child.sync_fd(), &made, 1, MSG_DONTWAIT);
        if (n == 1) co_return true;
        if (n == 0) co_return false; // it died first: its report says why
        if (errno != EAGAIN && errno != EINTR)
            throw_errno("recv(sync socket of {}, pid {})", name, child.pid());
    }
}

// Sync point 2: EOF on the report pipe once the child exec'd, or its failure record. Returns only
// at that EOF, which the child's exit gives too: until then it may run on the plan and on
// running.stack, in our memory (spawn/launch.hpp).
asio::awaitable<void> spawner::await_exec(spawn_result& result, spawn::launched::running& running,
                                          const spawn::plan& plan, child_stdio io) {
    asio::posix::stream_descriptor report(ex_, running.report.release());
    spawn::failure f{};
    asio::steady_timer deadline(ex_, setup_deadline_);
    auto outcome =
        co_await (asio::async_read(report, asio::buffer(&f, sizeof f), ctr::as_tuple_awaitable) ||
                  deadline.async_wait(ctr::as_tuple_awaitable));
    std::size_t n = 0;
    if (outcome.index() == 1) {
        result.child.signal(SIGKILL);
        result.setup_error =
            fmt::format("set-up did not reach exec within {} s", setup_deadline_.count());
    } else {
        n = std::get<1>(std::get<0>(outcome));
        if (n == 0 && running.died_before_go)
            result.setup_error = "died during set-up, before it could exec its command";
        else if (n == sizeof f)
            result.setup_error = spawn::describe(f, plan);
        else if (n != 0)
            result.setup_error = "set-up ended with a truncated failure report";
    }
    if (!result.setup_error.empty()) {
        // A failed or killed child exits at once; a record's writer is still in its last steps.
        char rest[sizeof f];
        while (std::get<1>(co_await asio::async_read(report, asio::buffer(rest),
                                                     ctr::as_tuple_awaitable)) != 0) {
        }
        co_return;
    }
    // n == 0 at EOF: the report pipe closed at exec, so a terminal was sent before it.
    try {
        if (running.terminal) io.take_terminal(spawn::receive_terminal(running.terminal.get()));
        result.io = io.for_hub();
    } catch (const std::exception& e) {
        result.child.signal(SIGKILL);
        result.setup_error = e.what();
    }
}

} // namespace ctr::supervise
