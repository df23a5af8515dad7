// cgroup v2: one hierarchy; a folder's controllers are those its parent enables in
// cgroup.subtree_control, and only a folder without processes may enable them (the root aside).
#include "versions.hpp"
#include <cerrno>
#include <sys/stat.h>
#include <unistd.h>

#include "ctr/cgroup/files.hpp"
#include "ctr/core/error.hpp"
#include "ctr/core/scope_guard.hpp"

namespace ctr::cgroup {

namespace fs = std::filesystem;

namespace {

constexpr int max_kill_rounds = 64;
constexpr std::string_view delegated[] = {"memory", "pids", "cpu"};

bool listed(std::string_view text, std::string_view word) {
    for (std::size_t at = 0; (at = text.find(word, at)) != std::string_view::npos; ++at) {
        bool starts = at == 0 || text[at - 1] == ' ';
        auto end = at + word.size();
        bool ends = end == text.size() || text[end] == ' ' || text[end] == '\n';
        if (starts && ends) return true;
    }
    return false;
}

class v2_driver final : public driver {
  public:
    using driver::driver;

    // Every level from the mount point down to `rel` passes memory, pids and cpu (those the
    // host offers) on to its children.
    void make_parent(const fs::path& rel) const override {
        const auto& h = layout_.hierarchies.front();
        for (int attempt = 0;; ++attempt) {
            fs::path at = h.dir;
            int err = 0;
            enable_below(at);
            for (const auto& part : rel) {
                at /= part;
                if (::mkdir(at.c_str(), 0755) != 0 && errno != EEXIST) {
                    err = errno;
                    break;
                }
                enable_below(at);
            }
            if (!err) return;
            // A supervisor on another state dir may remove an empty ctr-supervisor between our
            // mkdirs: start over from the top then.
            if (err != ENOENT || attempt == 3)
                throw_sys(err, fmt::format("mkdir(\"{}\")", at.string()));
        }
    }

    // cgroup.kill (5.14+) kills the whole subtree at once, forks racing it included. Processes
    // are signalled one by one first only to get their pidfds. Older kernels: freeze
    // (cgroup.freeze, 5.2+; SIGKILL gets through it), rounds of SIGKILL, thaw.
    std::vector<unique_fd> kill_all(const fs::path& rel) const override {
        std::vector<pid_t> signalled;
        std::vector<unique_fd> fds;
        auto dir = layout_.hierarchies.front().dir / rel;
        for (const auto& sub : subtree(rel))
            kill_listed(sub, signalled, fds);
        if (::access((dir / "cgroup.kill").c_str(), F_OK) == 0) {
            write_knob(dir / "cgroup.kill", "1");
            return fds;
        }
        auto freeze = dir / "cgroup.freeze";
        bool can_freeze = ::access(freeze.c_str(), F_OK) == 0;
        if (can_freeze) write_knob(freeze, "1");
        scope_guard thaw([&] {
            if (can_freeze) {
                try {
                    write_knob(freeze, "0");
                } catch (...) {
                    // Gone with its folder: nothing else to undo.
                }
            }
        });
        for (int round = 0; round < max_kill_rounds; ++round) {
            std::size_t found = 0;
            for (const auto& sub : subtree(rel))
                found += kill_listed(sub, signalled, fds);
            if (found == 0) break;
        }
        return fds;
    }

    stats read_stats(const fs::path& rel) const override {
        auto dir = layout_.hierarchies.front().dir / rel;
        stats s;
        s.memory = number(dir / "memory.current");
        s.memory_peak = number(dir / "memory.peak"); // 5.19+
        s.pids = number(dir / "pids.current");
        if (auto text = try_read_knob(dir / "cpu.stat"))
            if (auto us = parse_keyed(*text, "usage_usec"))
                s.cpu_seconds = static_cast<double>(*us) / 1e6;
        return s;
    }

    std::uint64_t oom_kills(const fs::path& rel) const override {
        auto text = try_read_knob(layout_.hierarchies.front().dir / rel / "memory.events");
        if (!text) return 0;
        return parse_keyed(*text, "oom_kill").value_or(0);
    }

  private:
    static std::optional<std::uint64_t> number(const fs::path& file) {
        auto text = try_read_knob(file);
        return text ? parse_number(*text) : std::nullopt;
    }

    static void enable_below(const fs::path& dir) {
        auto offered = try_read_knob(dir / "cgroup.controllers");
        if (!offered) return;
        auto enabled = read_knob(dir / "cgroup.subtree_control");
        for (auto c : delegated)
            if (listed(*offered, c) && !listed(enabled, c))
                write_knob(dir / "cgroup.subtree_control", fmt::format("+{}", c));
    }
};

} // namespace

std::unique_ptr<driver> make_v2_driver(layout l) {
    return std::make_unique<v2_driver>(std::move(l));
}

} // namespace ctr::cgroup
