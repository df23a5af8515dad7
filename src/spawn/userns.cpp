#include "ctr/spawn/userns.hpp"

#include <fcntl.h>
#include <filesystem>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>

#include "ctr/core/error.hpp"
#include "ctr/core/scope_guard.hpp"
#include "ctr/spawn/mount_table.hpp"
#include "ctr/sys/files.hpp"
#include "ctr/sys/process.hpp"

namespace ctr::spawn {

namespace fs = std::filesystem;

namespace {

unique_fd clone_tree(const std::string& path, unsigned flags = 0) {
    int fd = ::open_tree(AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | flags);
    if (fd < 0) throw_errno("open_tree(\"{}\", OPEN_TREE_CLONE)", path);
    return unique_fd(fd);
}

void set_attr(int tree, const mount_attr& a, unsigned flags, const char* what,
              const std::string& path) {
    if (::mount_setattr(tree, "", AT_EMPTY_PATH | flags, const_cast<mount_attr*>(&a), sizeof a) !=
        0)
        throw_errno("mount_setattr(\"{}\", {})", path, what);
}

std::optional<config::id_range> read_marker(const fs::path& file) {
    auto text = sys::read_file(file);
    if (!text) return std::nullopt;
    config::id_range r;
    if (std::sscanf(text->c_str(), "%u %u", &r.base, &r.size) != 2) return std::nullopt;
    return r;
}

// The overlay keeps its marks (opaque folders, redirects) in trusted.overlay.* xattrs when mounted
// by the host's root and in user.overlay.* with `userxattr` in a user namespace: renamed when the
// map changes, so that a folder the container emptied stays empty.
void move_overlay_xattrs(const fs::path& path, bool to_user) {
    constexpr std::string_view trusted = "trusted.overlay.", user = "user.overlay.";
    std::string_view from = to_user ? trusted : user, to = to_user ? user : trusted;
    ssize_t n = ::llistxattr(path.c_str(), nullptr, 0);
    if (n <= 0) return; // none, or a file system without xattrs
    std::string names(static_cast<std::size_t>(n), '\0');
    n = ::llistxattr(path.c_str(), names.data(), names.size());
    if (n < 0) throw_errno("llistxattr(\"{}\")", path.string());
    names.resize(static_cast<std::size_t>(n));
    for (std::size_t at = 0; at < names.size(); at = names.find('\0', at) + 1) {
        std::string name = names.c_str() + at;
        if (!name.starts_with(from)) continue;
        std::string value(256, '\0');
        ssize_t len = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
        if (len < 0 && errno == ERANGE) {
            len = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
            if (len >= 0) value.resize(static_cast<std::size_t>(len));
            len = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
        }
        if (len < 0) throw_errno("lgetxattr(\"{}\", {})", path.string(), name);
        std::string renamed = std::string(to) + name.substr(from.size());
        if (::lsetxattr(path.c_str(), renamed.c_str(), value.data(), static_cast<std::size_t>(len),
                        0) != 0)
            throw_errno("lsetxattr(\"{}\", {})", path.string(), renamed);
        if (::lremovexattr(path.c_str(), name.c_str()) != 0)
            throw_errno("lremovexattr(\"{}\", {})", path.string(), name);
    }
}

// lchown without following symlinks; a regular file's set-id bits, which chown clears, come back.
// The overlay's xattrs follow the switch between host root and a user namespace.
void shift_owner(const fs::path& path, const std::optional<config::id_range>& from,
                 const std::optional<config::id_range>& to) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) throw_errno("lstat(\"{}\")", path.string());
    uid_t uid = shift_id(st.st_uid, from, to);
    gid_t gid = shift_id(st.st_gid, from, to);
    // user.* xattrs exist on folders and files only; the overlay marks no symlink.
    if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) move_overlay_xattrs(path, to.has_value());
    if (uid == st.st_uid && gid == st.st_gid) return;
    if (::lchown(path.c_str(), uid, gid) != 0) throw_errno("lchown(\"{}\")", path.string());
    if (S_ISREG(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID)) &&
        ::chmod(path.c_str(), st.st_mode & 07777) != 0)
        throw_errno("chmod(\"{}\")", path.string());
}

void own_dir(const fs::path& dir, const config::id_range& r) {
    if (::lchown(dir.c_str(), r.base, r.base) != 0) throw_errno("lchown(\"{}\")", dir.string());
}

} // namespace

std::string id_map_line(const config::id_range& r) {
    return fmt::format("0 {} {}\n", r.base, r.size);
}

void write_id_maps(pid_t pid, const config::id_range& r) {
    auto line = id_map_line(r);
    for (const char* map : {"uid_map", "gid_map"})
        sys::write_file(fmt::format("/proc/{}/{}", pid, map), line);
}

unique_fd make_mapping_userns(const config::id_range& r) {
    auto [hold, release] = sys::make_pipe("user namespace helper");

    int pidfd = -1;
    clone_args args{};
    args.flags = CLONE_PIDFD | CLONE_NEWUSER;
    args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) throw_errno("clone3(CLONE_NEWUSER) for the map {}", id_map_line(r));
    if (pid == 0) {
        // Only holds its namespace open until the parent has it: EOF once the parent is done.
        char c;
        ssize_t n = ::read(hold.get(), &c, 1);
        (void)n;
        ::_exit(0);
    }
    unique_fd helper(pidfd);
    scope_guard reap([&] {
        release.reset();
        sys::pidfd_signal(helper.get(), SIGKILL);
        try {
            sys::pidfd_wait(helper.get(), false);
        } catch (...) {
            // Reaped already: nothing is left to undo.
        }
    });
    hold.reset();
    write_id_maps(static_cast<pid_t>(pid), r);
    return sys::open_file(fmt::format("/proc/{}/ns/user", pid), O_RDONLY);
}

host_trees clone_host_trees(plan& p, int mapping_userns) {
    host_trees out;
    auto keep = [&](unique_fd fd) {
        int raw = fd.get();
        out.fds.push_back(std::move(fd));
        return raw;
    };

    // The overlay accepts an id-mapped lower layer: the image's root-owned files are root's
    // inside, and nothing of the shared image is ever chowned.
    unique_fd lower = clone_tree(p.image);
    mount_attr idmap{};
    idmap.attr_set = MOUNT_ATTR_IDMAP;
    idmap.userns_fd = static_cast<std::uint64_t>(mapping_userns);
    set_attr(lower.get(), idmap, 0, "MOUNT_ATTR_IDMAP", p.image);
    p.userns.lower = keep(std::move(lower));

    static_assert(sizeof p.userns.devices / sizeof p.userns.devices[0] ==
                  sizeof dev_nodes / sizeof dev_nodes[0]);
    for (std::size_t i = 0; i < std::size(dev_nodes); ++i)
        p.userns.devices[i] = keep(clone_tree(fmt::format("/dev/{}", dev_nodes[i].name)));

    for (auto& b : p.binds)
        b.tree = keep(clone_tree(b.source));

    mount_attr readonly{};
    readonly.attr_set = MOUNT_ATTR_RDONLY;
    for (auto& m : p.mounts) {
        unique_fd tree = clone_tree(m.source, AT_RECURSIVE);
        if (m.readonly) set_attr(tree.get(), readonly, AT_RECURSIVE, "MOUNT_ATTR_RDONLY", m.source);
        m.tree = keep(std::move(tree));
    }
    return out;
}

void give_to_mapped_root(const fs::path& file, const config::id_range& r) {
    if (::lchown(file.c_str(), r.base, r.base) != 0) throw_errno("lchown(\"{}\")", file.string());
    if (::chmod(file.c_str(), 0644) != 0) throw_errno("chmod(\"{}\")", file.string());
}

std::uint32_t shift_id(std::uint32_t id, const std::optional<config::id_range>& from,
                       const std::optional<config::id_range>& to) {
    std::uint64_t inner = id;
    if (from) {
        if (id < from->base || id - from->base >= from->size) return id;
        inner = id - from->base;
    }
    if (!to) return static_cast<std::uint32_t>(inner);
    if (inner >= to->size) return id;
    return static_cast<std::uint32_t>(to->base + inner);
}

void prepare_overlay_dirs(const overlay_paths& paths,
                          const std::optional<config::id_range>& userns) {
    fs::path marker = paths.dir / "idmap";
    auto before = read_marker(marker);
    if (before != userns) {
        // Bottom-up is not needed: lchown never follows a symlink, and nothing runs in the tree.
        shift_owner(paths.upper(), before, userns);
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(paths.upper(), ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
            shift_owner(it->path(), before, userns);
        if (ec) throw_sys(ec.value(), fmt::format("walk \"{}\"", paths.upper().string()));
        sys::remove_tree(paths.work());
        sys::make_dirs(paths.work(), 0700);
        if (userns)
            sys::write_file_atomic(marker, fmt::format("{} {}\n", userns->base, userns->size));
        else if (::unlink(marker.c_str()) != 0 && errno != ENOENT)
            throw_errno("unlink(\"{}\")", marker.string());
    }
    // Root inside reaches only what it is given: search, not read, on the container's folder.
    if (::chmod(paths.dir.c_str(), userns ? 0711 : 0700) != 0)
        throw_errno("chmod(\"{}\")", paths.dir.string());
    if (!userns) return;
    sys::make_dirs(paths.lower(), 0700);
    own_dir(paths.upper(), *userns);
    own_dir(paths.work(), *userns);
}

} // namespace ctr::spawn
