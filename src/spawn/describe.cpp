#include <string.h>

#include <fmt/format.h>

#include "ctr/spawn/child.hpp"
#include "ctr/spawn/mount_table.hpp"

namespace ctr::spawn {

namespace {
std::string target_of(int index) {
    if (index == mount_table_size) return "/etc/hosts"; // the only bind so far
    if (index < 0 || index >= mount_table_size) return "?";
    const auto& m = mount_table[index];
    return std::string(m.parent) == "." ? fmt::format("/{}", m.leaf)
                                        : fmt::format("/{}/{}", m.parent, m.leaf);
}
} // namespace

std::string describe(const failure& f, const plan& p) {
    const char* err = ::strerrordesc_np(f.err);
    std::string why = err ? err : fmt::format("error {}", f.err);
    auto mnt = [&](const char* what) {
        int i = f.detail;
        const char* type = (i >= 0 && i < mount_table_size) ? mount_table[i].fstype : "bind";
        return fmt::format("{}({} on \"{}\" in container {}): {}", what, type, target_of(i), p.name,
                           why);
    };
    switch (f.what) {
    case step::wait_parent:
        return fmt::format("prctl(PR_SET_PDEATHSIG): {}", why);
    case step::set_hostname:
        return fmt::format("sethostname(\"{}\"): {}", p.hostname, why);
    case step::loopback_up:
        return fmt::format("bring up lo: {}", why);
    case step::make_private:
        return fmt::format("mount(\"/\", MS_REC|MS_PRIVATE): {}", why);
    case step::mount_overlay:
        return fmt::format("mount(overlay of \"{}\" on \"{}\"): {}", p.image, p.merged, why);
    case step::open_root:
        return fmt::format("open(\"{}\"): {}", p.merged, why);
    case step::make_target:
        return fmt::format("mkdir(\"{}\" in container {}): {}", target_of(f.detail), p.name, why);
    case step::open_target:
        // ELOOP here is the container's own symlink where a mount point belongs: refused.
        return fmt::format("open mount point \"{}\" in container {} without following symlinks: {}",
                           target_of(f.detail), p.name, why);
    case step::fs_open:
        return mnt("fsopen");
    case step::fs_create:
        return mnt("fsconfig");
    case step::fs_mount:
        return mnt("fsmount");
    case step::move_mount:
        return mnt("move_mount");
    case step::make_device:
        return fmt::format("mknod(device in \"/dev\"): {}", why);
    case step::pivot_root:
        return fmt::format("pivot_root(\"{}\"): {}", p.merged, why);
    case step::detach_old_root:
        return fmt::format("umount2(old root, MNT_DETACH): {}", why);
    case step::set_stdio:
        return fmt::format("dup2(stdio): {}", why);
    case step::chdir_workdir:
        return fmt::format("chdir(\"{}\"): {}", p.workdir, why);
    case step::reset_signals:
        return fmt::format("sigprocmask: {}", why);
    case step::close_fds:
        return fmt::format("close_range: {}", why);
    case step::exec:
        return fmt::format("exec \"{}\": {}", p.argv_storage.front(), why);
    }
    return fmt::format("step {}: {}", static_cast<int>(f.what), why);
}

} // namespace ctr::spawn
