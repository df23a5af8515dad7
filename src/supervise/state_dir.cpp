#include "ctr/supervise/state_dir.hpp"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ctr/core/error.hpp"
#include "ctr/core/log.hpp"
#include "ctr/sys/files.hpp"
#include "ctr/sys/process.hpp"

namespace ctr::supervise {

namespace fs = std::filesystem;

state_dir::state_dir(fs::path dir) : dir_(std::move(dir)) {
    sys::make_dirs(dir_, 0700);
    auto lock = sys::try_lock(dir_ / "lock");
    if (!lock)
        fail("another ctr-supervisor is running on state dir {} (its lock {} is held)",
             dir_.string(), (dir_ / "lock").string());
    lock_ = std::move(*lock);
    recover();
}

namespace {
// A process of the dead run: killed through a pidfd only if it is still the same process.
void kill_leftover(const fs::path& state_file) {
    auto text = sys::read_file(state_file);
    if (!text) return;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.contains("pid")) return;
    pid_t pid = j["pid"].get<pid_t>();
    auto started = j.value("start_time", 0ULL);
    if (pid <= 0) return;
    unique_fd pidfd;
    try {
        pidfd = sys::pidfd_open(pid);
    } catch (const std::system_error&) {
        return; // gone already
    }
    if (sys::start_time(pid) != started) return; // the PID now names someone else
    log::warn("supervisor", "killing pid {} left by a previous run ({})", pid,
              state_file.parent_path().filename().string());
    sys::pidfd_signal(pidfd.get(), SIGKILL);
    // Not our child, so it cannot be reaped here; wait until it is gone before reusing its files.
    pollfd p{pidfd.get(), POLLIN, 0};
    ::poll(&p, 1, 5000);
}
} // namespace

int state_dir::recover() {
    int found = 0;
    std::error_code ec;
    for (auto& entry : fs::directory_iterator(containers(), ec)) {
        kill_leftover(entry.path() / "state.json");
        sys::remove_tree(entry.path());
        ++found;
    }
    if (found) log::warn("supervisor", "removed {} container(s) left by a previous run", found);
    return found;
}

void state_dir::clean() noexcept {
    try {
        sys::remove_tree(containers());
    } catch (const std::exception& e) {
        // A folder only a person can remove (a mount inside, say): the next start-up's recover()
        // tries again and says so; this shutdown still ends cleanly.
        log::error("supervisor", "shutdown: {}", e.what());
    }
    ::unlink((dir_ / "lock").c_str());
}

} // namespace ctr::supervise
