#include "ctr/sys/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
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

// Empties the folder `fd` (`path`, for messages) like rm -rf: entries relative to their folder's
// fd, never through a symlink, and the type getdents64 gives spares a stat per entry. One fd and
// one buffer per level, as std::filesystem::remove_all holds, at a third of its system calls: a
// shutdown empties every container's folder.
void empty_folder(int fd, const fs::path& path) {
    std::vector<char> buffer(8192);
    for (;;) {
        ssize_t n = ::getdents64(fd, buffer.data(), buffer.size());
        if (n < 0) throw_errno("getdents64(\"{}\")", path.string());
        if (n == 0) return;
        for (ssize_t at = 0; at < n;) {
            const auto* d = reinterpret_cast<const dirent64*>(buffer.data() + at);
            at += d->d_reclen;
            std::string_view name = d->d_name;
            if (name == "." || name == "..") continue;
            bool folder = d->d_type == DT_DIR;
            if (d->d_type == DT_UNKNOWN) {
                struct stat st {};
                if (::fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                    if (errno == ENOENT) continue;
                    throw_errno("stat(\"{}\")", (path / name).string());
                }
                folder = S_ISDIR(st.st_mode);
            }
            if (folder) {
                int sub = ::openat(fd, d->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0) {
                    if (errno == ENOENT) continue;
                    throw_errno("open(\"{}\")", (path / name).string());
                }
                unique_fd owned(sub);
                empty_folder(sub, path / name);
            }
            if (::unlinkat(fd, d->d_name, folder ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT)
                throw_errno("remove(\"{}\")", (path / name).string());
        }
    }
}

} // namespace

void remove_tree(const fs::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return;
        if (errno != ENOTDIR && errno != ELOOP) throw_errno("open(\"{}\")", path.string());
        // A file, or a symlink, which goes itself.
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            throw_errno("remove(\"{}\")", path.string());
        return;
    }
    {
        unique_fd owned(fd);
        empty_folder(fd, path);
    }
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
