#include "ctr/cgroup/tree.hpp"

#include <cstdint>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include "ctr/core/error.hpp"

namespace ctr::cgroup {

namespace fs = std::filesystem;

fs::path parent_for(const fs::path& state_dir) {
    std::error_code ec;
    auto abs = fs::absolute(state_dir, ec).lexically_normal();
    if (ec) abs = state_dir.lexically_normal();
    auto text = abs.string();
    while (text.size() > 1 && text.back() == '/')
        text.pop_back();
    std::uint64_t h = 14695981039346656037ull; // FNV-1a, 64 bits
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return fs::path(top_folder) / fmt::format("{:016x}", h);
}

tree::tree(std::shared_ptr<driver> d, fs::path parent)
    : d_(std::move(d)), parent_(std::move(parent)) {
    d_->make_parent(parent_);
}

tree::tree(const fs::path& state_dir) : tree(make_driver(probe_host()), parent_for(state_dir)) {}

tree::~tree() {
    try {
        clean_leftovers(2000);
    } catch (...) {
        // Best effort at exit: the next run on this state dir clears what is left.
    }
    d_->remove(parent_);
    // A plain rmdir, which fails while another supervisor has its folder there: that one
    // removes it last.
    for (const auto& dir : d_->dirs(parent_.parent_path()))
        ::rmdir(dir.c_str());
}

group tree::create(const std::string& name, const limits& l) {
    auto rel = parent_ / name;
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
        rel.parent_path() != parent_)
        fail("invalid cgroup name '{}'", name);
    bool leftover = false;
    for (const auto& dir : d_->dirs(rel)) {
        struct stat st {};
        if (::lstat(dir.c_str(), &st) != 0) continue;
        if (!S_ISDIR(st.st_mode))
            fail("cannot make cgroup {}: a cgroup file has that name", dir.string());
        leftover = true;
    }
    if (leftover) {
        // Left by a run whose removal failed: empty it and start afresh, so no old limit stays.
        auto fds = d_->kill_all(rel);
        wait_exited(fds, 2000);
        fs::path failed;
        if (int err = d_->remove(rel, &failed))
            throw_sys(err, fmt::format("rmdir(\"{}\") of a leftover", failed.string()));
    }
    d_->make_leaf(rel);
    group g(d_, rel);
    d_->apply(rel, l);
    return g;
}

int tree::clean_leftovers(int timeout_ms) {
    std::set<std::string> names;
    for (const auto& dir : d_->dirs(parent_)) {
        std::error_code ec;
        for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
            if (it->is_directory(ec) && !it->is_symlink(ec))
                names.insert(it->path().filename().string());
    }
    std::vector<unique_fd> fds;
    for (const auto& name : names) {
        auto killed = d_->kill_all(parent_ / name);
        std::move(killed.begin(), killed.end(), std::back_inserter(fds));
    }
    wait_exited(fds, timeout_ms);
    for (const auto& name : names) {
        fs::path failed;
        if (int err = d_->remove(parent_ / name, &failed))
            throw_sys(err, fmt::format("rmdir(\"{}\")", failed.string()));
    }
    return static_cast<int>(names.size());
}

} // namespace ctr::cgroup
