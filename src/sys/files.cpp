#include "ctr/sys/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <linux/openat2.h>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

#include "ctr/core/error.hpp"

namespace ctr::sys {

namespace fs = std::filesystem;

void make_dirs(const fs::path& dir, mode_t mode) {
    if (dir.empty()) return;
    struct stat st {};
    if (::lstat(dir.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) fail("{}: exists and is not a directory", dir.string());
        return;
    }
    if (dir.has_parent_path() && dir.parent_path() != dir) make_dirs(dir.parent_path(), mode);
    if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST)
        throw_errno("mkdir(\"{}\")", dir.string());
}

unique_fd open_file(const fs::path& file, int flags, mode_t mode) {
    int fd = ::open(file.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) throw_errno("open(\"{}\")", file.string());
    return unique_fd(fd);
}

pipe_ends make_pipe(const char* what) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2({})", what);
    return {unique_fd(fds[0]), unique_fd(fds[1])};
}

namespace {
void write_all(int fd, std::string_view content, const fs::path& file) {
    std::size_t done = 0;
    while (done < content.size()) {
        ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("write(\"{}\")", file.string());
        }
        done += static_cast<std::size_t>(n);
    }
}
} // namespace

void write_file(const fs::path& file, std::string_view content) {
    unique_fd fd = open_file(file, O_WRONLY | O_TRUNC | O_NOFOLLOW);
    write_all(fd.get(), content, file);
}

namespace {
void write_then_rename(const fs::path& file, std::string_view content, bool sync) {
    fs::path tmp = file;
    tmp += ".tmp";
    unique_fd fd = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    write_all(fd.get(), content, tmp);
    if (sync && ::fsync(fd.get()) != 0) throw_errno("fsync(\"{}\")", tmp.string());
    fd.reset();
    if (::rename(tmp.c_str(), file.c_str()) != 0)
        throw_errno("rename(\"{}\" to \"{}\")", tmp.string(), file.string());
}
} // namespace

void write_file_atomic(const fs::path& file, std::string_view content) {
    write_then_rename(file, content, true);
}

void replace_file(const fs::path& file, std::string_view content) {
    write_then_rename(file, content, false);
}

int read_file_into(const fs::path& file, std::string& out, int flags) {
    unique_fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | flags));
    if (!fd) return errno;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
}

std::optional<std::string> read_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

namespace {

// A folder on the way down from the tree's top to the one being emptied.
struct level {
    std::string name; // in its parent
    dev_t parent_dev;
    ino_t parent_ino;
    off_t resume; // the parent's listing goes on from here (getdents64's d_off)
};

// For messages: a tree a container made may be thousands of folders deep.
std::string shown(const fs::path& top, const std::vector<level>& down, std::string_view leaf) {
    std::string out = top.string();
    for (std::size_t i = 0; i < down.size(); ++i) {
        if (down.size() > 6 && i == 2) {
            out += fmt::format("/...({} more)...", down.size() - 4);
            i = down.size() - 3;
            continue;
        }
        out += "/" + down[i].name;
    }
    if (!leaf.empty()) out += "/" + std::string(leaf);
    return out;
}

int open_below(int dir, const char* name) {
    open_how how{};
    how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    // Never through a symlink, never into another file system mounted inside.
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV;
    return static_cast<int>(::syscall(SYS_openat2, dir, name, &how, sizeof how));
}

} // namespace

// rm -rf by fds: entries relative to their folder, never through a symlink, and the type
// getdents64 gives spares a stat per entry (a third of std::filesystem::remove_all's calls). One
// folder open at a time whatever the depth, since a container may build a tree deeper than our
// fd limit in its upper layer: going back up is "..", checked against the parent it left.
void remove_tree(const fs::path& given) {
    auto path = given;
    while (path.has_relative_path() && !path.has_filename())
        path = path.parent_path(); // "link/" would follow the link
    if (path.empty() || path == path.root_path())
        fail("remove_tree(\"{}\"): refused", given.string());
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return;
        if (errno != ENOTDIR && errno != ELOOP) throw_errno("open(\"{}\")", path.string());
        // A file, or a symlink, which goes itself.
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            throw_errno("remove(\"{}\")", path.string());
        return;
    }
    std::vector<level> down;
    std::vector<char> buffer(16384);
    ssize_t n = 0, at = 0;
    for (;;) {
        if (at >= n) {
            n = ::getdents64(fd.get(), buffer.data(), buffer.size());
            at = 0;
            if (n < 0) throw_errno("getdents64(\"{}\")", shown(path, down, ""));
            if (n > 0) continue;
            if (down.empty()) break; // the top is empty
            // This folder is empty: back to its parent, which must be the one it was entered from.
            level l = std::move(down.back());
            down.pop_back();
            unique_fd parent(::openat(fd.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            struct stat st {};
            if (!parent || ::fstat(parent.get(), &st) != 0)
                throw_errno("open(\"{}/..\")", shown(path, down, l.name));
            if (st.st_dev != l.parent_dev || st.st_ino != l.parent_ino)
                fail("remove(\"{}\"): its folder moved meanwhile", shown(path, down, l.name));
            fd = std::move(parent);
            if (::unlinkat(fd.get(), l.name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
                throw_errno("remove(\"{}\")", shown(path, down, l.name));
            if (::lseek(fd.get(), l.resume, SEEK_SET) < 0)
                throw_errno("lseek(\"{}\")", shown(path, down, ""));
            continue;
        }
        const auto* d = reinterpret_cast<const dirent64*>(buffer.data() + at);
        at += d->d_reclen;
        std::string_view name = d->d_name;
        if (name == "." || name == "..") continue;
        bool folder = d->d_type == DT_DIR;
        if (d->d_type == DT_UNKNOWN) {
            struct stat st {};
            if (::fstatat(fd.get(), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) continue;
                throw_errno("stat(\"{}\")", shown(path, down, name));
            }
            folder = S_ISDIR(st.st_mode);
        }
        if (!folder) {
            if (::unlinkat(fd.get(), d->d_name, 0) != 0 && errno != ENOENT)
                throw_errno("remove(\"{}\")", shown(path, down, name));
            continue;
        }
        // An empty folder goes at once; the others are entered.
        if (::unlinkat(fd.get(), d->d_name, AT_REMOVEDIR) == 0 || errno == ENOENT) continue;
        if (errno != ENOTEMPTY && errno != EEXIST)
            throw_errno("remove(\"{}\")", shown(path, down, name));
        struct stat here {};
        if (::fstat(fd.get(), &here) != 0) throw_errno("stat(\"{}\")", shown(path, down, ""));
        unique_fd sub(open_below(fd.get(), d->d_name));
        if (!sub) {
            if (errno == ENOENT) continue;
            throw_errno("open(\"{}\")", shown(path, down, name));
        }
        down.push_back({std::string(name), here.st_dev, here.st_ino, d->d_off});
        fd = std::move(sub);
        n = at = 0;
    }
    fd.reset();
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) throw_errno("remove(\"{}\")", path.string());
}

std::optional<unique_fd> try_lock(const fs::path& file) {
    unique_fd fd = open_file(file, O_RDWR | O_CREAT | O_NOFOLLOW, 0600);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) return std::nullopt;
        throw_errno("flock(\"{}\")", file.string());
    }
    return fd;
}

void ensure_std_fds() {
    for (int want = 0; want <= 2; ++want) {
        if (::fcntl(want, F_GETFD) >= 0) continue;
        // Lowest free fd: the missing standard one. Deliberately not close-on-exec.
        int fd = ::open("/dev/null", O_RDWR);
        if (fd < 0) throw_errno("open(\"/dev/null\")");
    }
}

} // namespace ctr::sys
