#include "ctr/cgroup/group.hpp"

#include "ctr/core/error.hpp"

namespace ctr::cgroup {

namespace fs = std::filesystem;

group::group(std::shared_ptr<const driver> d, fs::path rel)
    : d_(std::move(d)), rel_(std::move(rel)) {
    try {
        oom_base_ = d_->oom_kills(rel_);
    } catch (const std::system_error&) {
        oom_base_ = 0; // a fresh folder counts from 0 anyway
    }
}

group::group(group&& o) noexcept
    : d_(std::move(o.d_)), rel_(std::move(o.rel_)), oom_base_(o.oom_base_), owned_(o.owned_) {
    o.owned_ = false;
}

group::~group() {
    if (!owned_) return;
    try {
        // Only failure paths get here with processes inside: the run's own end removes it.
        auto fds = kill_all();
        if (!fds.empty()) wait_exited(fds, 2000);
        d_->remove(rel_);
    } catch (...) {
        // Nothing to report to from a destructor; the supervisor's exit tries once more.
    }
}

bool group::oom_killed() const {
    return d_->oom_kills(rel_) > oom_base_;
}

void group::remove() {
    fs::path failed;
    if (int err = d_->remove(rel_, &failed))
        throw_sys(err, fmt::format("rmdir(\"{}\")", failed.string()));
    owned_ = false;
}

} // namespace ctr::cgroup
