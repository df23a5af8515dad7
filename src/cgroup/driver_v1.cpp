// cgroup v1: a hierarchy per controller (cpu and cpuacct often share one), each with its own
// copy of the container's folder.
#include "versions.hpp"
#include <cerrno>
#include <sys/stat.h>

#include "ctr/cgroup/files.hpp"
#include "ctr/core/error.hpp"
#include "ctr/core/scope_guard.hpp"

namespace ctr::cgroup {

namespace fs = std::filesystem;

namespace {

// Enough for processes forked while a round ran; each round waits for nothing.
constexpr int max_kill_rounds = 64;

class v1_driver final : public driver {
  public:
    using driver::driver;

    void make_parent(const fs::path& rel) const override {
        for (const auto& h : layout_.hierarchies) {
            // A supervisor on another state dir may remove an empty ctr-supervisor between our
            // mkdirs: start over from the top then.
            for (int attempt = 0;; ++attempt) {
                fs::path at = h.dir;
                int err = 0;
                for (const auto& part : rel) {
                    at /= part;
                    if (::mkdir(at.c_str(), 0755) != 0 && errno != EEXIST) {
                        err = errno;
                        break;
                    }
                }
                if (!err) break;
                if (err != ENOENT || attempt == 3)
                    throw_sys(err, fmt::format("mkdir(\"{}\")", at.string()));
            }
        }
    }

    // Frozen, a process can neither fork nor exit; SIGKILL stays pending until the thaw. Each
    // round signals who is listed and not signalled yet; processes forked while a round ran
    // (before the freezer caught their parent) show up in the next, and a round that finds
    // nobody new ends it. Without a freezer the rounds alone do it, racing forks, which the
    // pid namespace backs up: every process of the container dies with its PID 1.
    std::vector<unique_fd> kill_all(const fs::path& rel) const override {
        std::vector<pid_t> signalled;
        std::vector<unique_fd> fds;
        const hierarchy* freezer = layout_.find("freezer");
        auto state = freezer ? freezer->dir / rel / "freezer.state" : fs::path{};
        bool can_freeze = freezer && ::access(state.c_str(), F_OK) == 0;
        for (int round = 0; round < max_kill_rounds; ++round) {
            if (can_freeze) write_knob(state, "FROZEN");
            scope_guard thaw([&] {
                if (can_freeze) {
                    try {
                        write_knob(state, "THAWED");
                    } catch (...) {
                        // Gone with its folder, or the kernel refused: nothing else to undo.
                    }
                }
            });
            std::size_t found = 0;
            for (const auto& sub : subtree(rel))
                found += kill_listed(sub, signalled, fds);
            if (found == 0) break;
        }
        return fds;
    }

    stats read_stats(const fs::path& rel) const override {
        stats s;
        if (const auto* h = layout_.find("memory")) {
            s.memory = number(h->dir / rel / "memory.usage_in_bytes");
            s.memory_peak = number(h->dir / rel / "memory.max_usage_in_bytes");
        }
        if (const auto* h = layout_.find("pids")) s.pids = number(h->dir / rel / "pids.current");
        if (const auto* h = layout_.find("cpuacct"))
            if (auto ns = number(h->dir / rel / "cpuacct.usage"))
                s.cpu_seconds = static_cast<double>(*ns) / 1e9;
        return s;
    }

    std::uint64_t oom_kills(const fs::path& rel) const override {
        const auto* h = layout_.find("memory");
        if (!h) return 0;
        // oom_kill appeared in memory.oom_control with 4.13; before, the failure count is the
        // best sign (it also counts limit hits that reclaim resolved).
        if (auto text = try_read_knob(h->dir / rel / "memory.oom_control"))
            if (auto n = parse_keyed(*text, "oom_kill")) return *n;
        return number(h->dir / rel / "memory.failcnt").value_or(0);
    }

  private:
    static std::optional<std::uint64_t> number(const fs::path& file) {
        auto text = try_read_knob(file);
        return text ? parse_number(*text) : std::nullopt;
    }
};

} // namespace

std::unique_ptr<driver> make_v1_driver(layout l) {
    return std::make_unique<v1_driver>(std::move(l));
}

} // namespace ctr::cgroup
