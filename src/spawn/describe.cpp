#include <iterator>
#include <string.h>

#include <fmt/format.h>

#include "ctr/config/capabilities.hpp"
#include "ctr/spawn/child.hpp"
#include "ctr/spawn/mount_table.hpp"

namespace ctr::spawn {

namespace {
// "/proc/kcore" for index 1 of masked_paths.
template <std::size_t N> std::string path_in(const char* const (&table)[N], int index) {
    if (index < 0 || static_cast<std::size_t>(index) >= N) return "?";
    return fmt::format("/{}", table[index]);
}

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
    auto bind = [&](const char* what) {
        auto i = static_cast<std::size_t>(f.detail);
        if (f.detail < 0 || i >= p.mounts.size())
            return fmt::format("{} (a mounts entry) in container {}: {}", what, p.name, why);
        const auto& m = p.mounts[i];
        return fmt::format("{} for mounts = {}:{}{} in container {}: {}", what, m.source, m.target,
                           m.readonly ? ":ro" : "", p.name, why);
    };
    switch (f.what) {
    case step::wait_parent:
        return fmt::format("prctl(PR_SET_PDEATHSIG): {}", why);
    case step::join_cgroup: {
        auto i = static_cast<std::size_t>(f.detail);
        return fmt::format(
            "write(\"{}\" <- \"0\"): {}",
            f.detail >= 0 && i < p.cgroup_procs.size() ? p.cgroup_procs[i] : "cgroup.procs", why);
    }
    case step::make_namespaces:
        return fmt::format("unshare(CLONE_NEWCGROUP | CLONE_NEWNET): {}", why);
    case step::set_hostname:
        return fmt::format("sethostname(\"{}\"): {}", p.hostname, why);
    case step::loopback_up:
        return fmt::format("bring up lo: {}", why);
    case step::make_private:
        return fmt::format("mount(\"/\", MS_REC|MS_PRIVATE): {}", why);
    case step::userns_open_dir:
        return fmt::format("open(\"{}\") before becoming root of the user namespace: {}",
                           p.userns.dir, why);
    case step::userns_become_root: {
        static constexpr const char* calls[] = {"setresgid(0, 0, 0)", "setgroups(0)",
                                                "setresuid(0, 0, 0)"};
        const char* call = f.detail >= 0 && f.detail < 3 ? calls[f.detail] : "set ids";
        return fmt::format("{} in the user namespace of container {} (host ids from {}): {}", call,
                           p.name, p.userns.base, why);
    }
    case step::userns_attach_lower:
        return fmt::format("move_mount(id-mapped \"{}\" onto \"{}/lower\"): {}", p.image,
                           p.userns.dir, why);
    case step::bind_device: {
        const char* node = f.detail >= 0 && f.detail < static_cast<int>(std::size(dev_nodes))
                               ? dev_nodes[f.detail].name
                               : "?";
        return fmt::format("bind host /dev/{} into container {}: {}", node, p.name, why);
    }
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
    case step::bind_open_source:
        return bind("open_tree(host path)");
    case step::bind_set_readonly:
        return bind("mount_setattr(MOUNT_ATTR_RDONLY)");
    case step::bind_make_target:
        return bind("create the mount point");
    case step::bind_open_target:
        // ELOOP: a symlink of the container's where the target or one of its folders belongs.
        return bind("open the mount point without following symlinks");
    case step::bind_move:
        return bind("move_mount");
    case step::set_ping_range:
        return fmt::format("write \"{}\" to /{} in container {}: {}", p.ping_range,
                           ping_group_range_path, p.name, why);
    case step::open_masked:
        return fmt::format("open masked path \"{}\" in container {} without following symlinks: {}",
                           path_in(masked_paths, f.detail), p.name, why);
    case step::mask_with_null:
        if (f.detail < 0) return fmt::format("open /dev/null in container {}: {}", p.name, why);
        return fmt::format("bind /dev/null over \"{}\" in container {}: {}",
                           path_in(masked_paths, f.detail), p.name, why);
    case step::mask_with_tmpfs:
        return fmt::format("mount an empty read-only tmpfs over \"{}\" in container {}: {}",
                           path_in(masked_paths, f.detail), p.name, why);
    case step::open_readonly_path:
        return fmt::format("open \"{}\" in container {} without following symlinks: {}",
                           path_in(readonly_paths, f.detail), p.name, why);
    case step::make_readonly_path:
        return fmt::format("bind \"{}\" read-only onto itself in container {}: {}",
                           path_in(readonly_paths, f.detail), p.name, why);
    case step::make_root_readonly:
        return fmt::format("mount_setattr(\"{}\", MOUNT_ATTR_RDONLY) for readonly_rootfs: {}",
                           p.merged, why);
    case step::pivot_root:
        return fmt::format("pivot_root(\"{}\"): {}", p.merged, why);
    case step::detach_old_root:
        return fmt::format("umount2(old root, MNT_DETACH): {}", why);
    case step::set_stdio:
        return fmt::format("dup2(stdio): {}", why);
    case step::open_terminal:
        return fmt::format("open a terminal (/dev/ptmx) in container {}: {}", p.name, why);
    case step::send_terminal:
        return fmt::format("send the terminal of container {} to the supervisor: {}", p.name, why);
    case step::set_controlling_tty:
        return fmt::format("ioctl(TIOCSCTTY) in container {}: {}", p.name, why);
    case step::join_namespaces:
        return fmt::format("setns(namespaces of container {}): {}", p.name, why);
    case step::chdir_workdir:
        return fmt::format("chdir(\"{}\"): {}", p.workdir, why);
    case step::reset_signals:
        return fmt::format("sigprocmask: {}", why);
    case step::close_fds:
        return fmt::format("close_range: {}", why);
    case step::set_rlimit:
        return fmt::format("setrlimit(RLIMIT_NOFILE, {}:{}): {}", p.nofile ? p.nofile->rlim_cur : 0,
                           p.nofile ? p.nofile->rlim_max : 0, why);
    case step::drop_bounding: {
        const char* cap = config::capability_name(f.detail);
        return cap ? fmt::format("prctl(PR_CAPBSET_DROP, {}): {}", cap, why)
                   : fmt::format("prctl(PR_CAPBSET_DROP, capability {}): {}", f.detail, why);
    }
    case step::clear_ambient:
        return fmt::format("prctl(PR_CAP_AMBIENT_CLEAR_ALL): {}", why);
    case step::set_no_new_privs:
        return fmt::format("prctl(PR_SET_NO_NEW_PRIVS): {}", why);
    case step::set_capabilities:
        return fmt::format("capset(effective = permitted = {:#x}): {}", p.capabilities, why);
    case step::load_seccomp: {
        auto i = static_cast<std::size_t>(f.detail);
        auto size = f.detail >= 0 && i < p.seccomp.size() ? p.seccomp[i].size() : 0;
        return fmt::format(
            "seccomp(SECCOMP_SET_MODE_FILTER, program {} of {}, {} instructions): {}", f.detail + 1,
            p.seccomp.size(), size, why);
    }
    case step::exec:
        return fmt::format("exec \"{}\": {}", p.argv_storage.front(), why);
    case step::prepare_init:
        return fmt::format("hand the report pipe to ctr-init in container {}: {}", p.name, why);
    case step::exec_init:
        return fmt::format("execveat(ctr-init memfd) in container {}: {}", p.name, why);
    case step::init_fork:
        return fmt::format("ctr-init: fork for \"{}\": {}", p.argv_storage.front(), why);
    }
    return fmt::format("step {}: {}", static_cast<int>(f.what), why);
}

} // namespace ctr::spawn
