// What both versions share: folders, limits, placing, listing and signalling processes, removal.
// driver_v1.cpp and driver_v2.cpp hold what differs.
#include "ctr/cgroup/driver.hpp"

#include "versions.hpp"
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctr/cgroup/files.hpp"
#include "ctr/core/error.hpp"
#include "ctr/sys/process.hpp"

namespace ctr::cgroup {

namespace fs = std::filesystem;

std::vector<setting> settings_for(version v, const limits& l) {
    std::vector<setting> out;
    if (l.memory) {
        auto bytes = std::to_string(*l.memory);
        if (v == version::v2) {
            out.push_back({"memory", "memory.max", bytes});
            out.push_back({"memory", "memory.swap.max", "0", true});
        } else {
            // memsw limits memory plus swap: the same value leaves no room for swap.
            out.push_back({"memory", "memory.limit_in_bytes", bytes});
            out.push_back({"memory", "memory.memsw.limit_in_bytes", bytes, true});
        }
    }
    if (l.pids) out.push_back({"pids", "pids.max", std::to_string(*l.pids)});
    if (l.cpu_quota_us) {
        if (v == version::v2) {
            out.push_back({"cpu", "cpu.max", fmt::format("{} {}", *l.cpu_quota_us, cpu_period_us)});
        } else {
            out.push_back({"cpu", "cpu.cfs_period_us", std::to_string(cpu_period_us)});
            out.push_back({"cpu", "cpu.cfs_quota_us", std::to_string(*l.cpu_quota_us)});
        }
    }
    return out;
}

std::vector<fs::path> driver::dirs(const fs::path& rel) const {
    std::vector<fs::path> out;
    for (const auto& h : layout_.hierarchies)
        out.push_back(h.dir / rel);
    return out;
}

void driver::make_leaf(const fs::path& rel) const {
    std::vector<fs::path> made;
    for (const auto& d : dirs(rel)) {
        if (::mkdir(d.c_str(), 0755) != 0) {
            int err = errno;
            for (auto it = made.rbegin(); it != made.rend(); ++it)
                ::rmdir(it->c_str());
            throw_sys(err, fmt::format("mkdir(\"{}\")", d.string()));
        }
        made.push_back(d);
    }
}

void driver::apply(const fs::path& rel, const limits& l) const {
    for (const auto& s : settings_for(layout_.ver, l)) {
        const hierarchy* h = layout_.find(s.controller);
        if (!h)
            fail("cannot enforce the {} limit: this host offers no {} controller (cgroup {})",
                 s.controller, s.controller, to_string(layout_.ver));
        auto file = h->dir / rel / s.file;
        if (s.optional && ::access(file.c_str(), F_OK) != 0) continue;
        write_knob(file, s.value);
    }
}

void driver::place(const fs::path& rel, pid_t pid) const {
    for (const auto& d : dirs(rel))
        write_knob(d / "cgroup.procs", std::to_string(pid));
}

std::vector<pid_t> driver::procs(const fs::path& rel) const {
    std::vector<pid_t> out;
    for (const auto& d : dirs(rel))
        if (auto text = try_read_knob(d / "cgroup.procs"))
            for (pid_t pid : parse_pids(*text))
                if (std::find(out.begin(), out.end(), pid) == out.end()) out.push_back(pid);
    return out;
}

bool driver::member(pid_t pid, const hierarchy& h, const fs::path& rel) const {
    auto text = try_read_knob(fmt::format("/proc/{}/cgroup", pid));
    if (!text) return false;
    auto want = (fs::path(h.root.empty() ? "/" : h.root) / rel).lexically_normal().string();
    for (const auto& m : parse_proc_cgroup(*text)) {
        bool ours =
            layout_.ver == version::v2
                ? m.id == 0 && m.controllers.empty()
                : !h.controllers.empty() && std::find(m.controllers.begin(), m.controllers.end(),
                                                      h.controllers.front()) != m.controllers.end();
        // A process the container moved into a cgroup of its own below counts as in it.
        if (ours) return m.path == want || m.path.starts_with(want + "/");
    }
    return false;
}

std::size_t driver::kill_listed(const fs::path& rel, std::vector<pid_t>& signalled,
                                std::vector<unique_fd>& fds) const {
    std::size_t n = 0;
    for (const auto& h : layout_.hierarchies) {
        auto text = try_read_knob(h.dir / rel / "cgroup.procs");
        if (!text) continue;
        for (pid_t pid : parse_pids(*text)) {
            if (std::find(signalled.begin(), signalled.end(), pid) != signalled.end()) continue;
            // The pidfd pins the process: if the pid was reused after the listing, the check
            // below sees a stranger and leaves it alone, or the signal finds the old one gone.
            unique_fd fd;
            try {
                fd = sys::pidfd_open(pid);
            } catch (const std::system_error&) {
                continue; // exited since the listing
            }
            if (!member(pid, h, rel)) continue;
            if (sys::pidfd_signal(fd.get(), SIGKILL) != 0) continue;
            signalled.push_back(pid);
            fds.push_back(std::move(fd));
            ++n;
        }
    }
    return n;
}

std::vector<fs::path> driver::subtree(const fs::path& rel) const {
    std::vector<fs::path> out;
    for (const auto& top : dirs(rel)) {
        std::error_code ec;
        for (fs::recursive_directory_iterator it(top, ec), end; !ec && it != end; it.increment(ec))
            if (it->is_directory(ec) && !it->is_symlink(ec)) {
                auto sub = rel / it->path().lexically_relative(top);
                if (std::find(out.begin(), out.end(), sub) == out.end()) out.push_back(sub);
            }
    }
    auto depth = [](const fs::path& p) { return std::distance(p.begin(), p.end()); };
    std::stable_sort(out.begin(), out.end(),
                     [&](const fs::path& a, const fs::path& b) { return depth(a) > depth(b); });
    out.push_back(rel);
    return out;
}

int driver::remove(const fs::path& rel, fs::path* failed) const {
    int first = 0;
    for (const auto& sub : subtree(rel)) {
        for (const auto& d : dirs(sub)) {
            if (::rmdir(d.c_str()) == 0 || errno == ENOENT) continue;
            if (!first) {
                first = errno;
                if (failed) *failed = d;
            }
        }
    }
    return first;
}

std::unique_ptr<driver> make_driver(layout l) {
    if (l.ver == version::v2) return make_v2_driver(std::move(l));
    return make_v1_driver(std::move(l));
}

bool wait_exited(const std::vector<unique_fd>& pidfds, int timeout_ms) {
    using clock = std::chrono::steady_clock;
    auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
    std::vector<pollfd> left;
    for (const auto& fd : pidfds)
        left.push_back({fd.get(), POLLIN, 0});
    while (!left.empty()) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (ms.count() <= 0) return false;
        int n = ::poll(left.data(), left.size(), static_cast<int>(ms.count()));
        if (n < 0 && errno != EINTR) return false;
        std::erase_if(left, [](const pollfd& p) { return p.revents != 0; });
    }
    return true;
}

} // namespace ctr::cgroup
