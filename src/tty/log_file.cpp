#include "ctr/tty/log_file.hpp"

#include "fail.hpp"
#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utility>

#include <fmt/format.h>

namespace ctr::tty {
namespace fs = std::filesystem;
using detail::fail_errno;

namespace {

fs::path rotated(const fs::path& current, unsigned n) {
    fs::path p = current;
    p += "." + std::to_string(n);
    return p;
}

// O_RDWR only so that the constructor can look at the last byte already there.
unique_fd open_for_append(const fs::path& p) {
    int fd = ::open(p.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0) fail_errno("open(\"{}\")", p.string());
    return unique_fd(fd);
}

std::string utc_now() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    ::gmtime_r(&ts.tv_sec, &t);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", t.tm_year + 1900, t.tm_mon + 1,
                       t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1'000'000);
}

std::string read_all(int fd, const fs::path& p) {
    std::string out;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
    char buf[64 * 1024];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n == 0) return out;
        if (n < 0) {
            if (errno == EINTR) continue;
            fail_errno("read(\"{}\")", p.string());
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
}

// The last n lines of s; a last line without its newline counts as one.
std::string_view last_lines(std::string_view s, std::size_t n) {
    if (n == 0) return {};
    std::size_t pos = s.size();
    if (pos > 0 && s[pos - 1] == '\n') --pos; // the last line's own newline
    while (pos > 0) {
        std::size_t nl = s.rfind('\n', pos - 1);
        if (nl == std::string_view::npos) break;
        if (--n == 0) return s.substr(nl + 1);
        pos = nl;
    }
    return s;
}

} // namespace

log_file::log_file(fs::path path, log_limits limits)
    : path_(std::move(path)), limits_(limits), fd_(open_for_append(path_)) {
    limits_.max_files = std::max(limits_.max_files, 1u);
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) fail_errno("fstat(\"{}\")", path_.string());
    size_ = static_cast<std::uint64_t>(st.st_size);
    // A log kept from an earlier run may end in the middle of a line; the next marker must not
    // be glued to it.
    if (size_ > 0) {
        char last = '\n';
        if (::pread(fd_.get(), &last, 1, st.st_size - 1) != 1)
            fail_errno("pread(\"{}\")", path_.string());
        at_line_start_ = last == '\n';
    }
}

void log_file::write(std::string_view bytes) {
    if (bytes.empty()) return;
    if (size_ > 0 && size_ + bytes.size() > limits_.max_size) rotate();
    while (!bytes.empty()) {
        ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) errno = ENOSPC;
            fail_errno("write(\"{}\")", path_.string());
        }
        // What did get written is counted, so a failed write leaves size_ true to the file.
        auto done = static_cast<std::size_t>(n);
        size_ += done;
        at_line_start_ = bytes[done - 1] == '\n';
        bytes.remove_prefix(done);
    }
}

std::string marker_line(std::string_view text) {
    std::string line = fmt::format("[ctr-supervisor {}] ", utc_now());
    for (char c : text)
        line.push_back(c == '\n' || c == '\r' ? ' ' : c);
    line.push_back('\n');
    return line;
}

void log_file::mark(std::string_view text) {
    std::string line = marker_line(text);
    if (!at_line_start_) {
        // Rotating here, rather than inside write(), keeps the newline that ends the
        // container's last line out of the fresh file.
        if (size_ + 1 + line.size() > limits_.max_size) rotate();
        if (!at_line_start_) line.insert(line.begin(), '\n');
    }
    write(line);
}

void log_file::rotate() {
    if (limits_.max_files == 1) {
        // Nothing is kept besides the current file: start it again in place (O_APPEND writes
        // go to the new end).
        if (::ftruncate(fd_.get(), 0) != 0) fail_errno("ftruncate(\"{}\")", path_.string());
    } else {
        // rename() replaces its target, which drops the oldest file on the way. A file that is
        // missing (never written that far, or removed by hand) is simply not moved.
        for (unsigned n = limits_.max_files - 1; n > 1; --n) {
            fs::path from = rotated(path_, n - 1), to = rotated(path_, n);
            if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
                fail_errno("rename(\"{}\" to \"{}\")", from.string(), to.string());
        }
        fs::path first = rotated(path_, 1);
        if (::rename(path_.c_str(), first.c_str()) != 0 && errno != ENOENT)
            fail_errno("rename(\"{}\" to \"{}\")", path_.string(), first.string());
        fd_ = open_for_append(path_);
    }
    size_ = 0;
    at_line_start_ = true;
}

std::vector<fs::path> log_files(const fs::path& current, unsigned max_files) {
    std::vector<fs::path> out;
    auto exists = [](const fs::path& p) {
        struct stat st {};
        return ::stat(p.c_str(), &st) == 0;
    };
    for (unsigned n = std::max(max_files, 1u) - 1; n > 0; --n)
        if (auto p = rotated(current, n); exists(p)) out.push_back(std::move(p));
    if (exists(current)) out.push_back(current);
    return out;
}

std::string read_log(const fs::path& current, unsigned max_files,
                     std::optional<std::size_t> lines) {
    // Newest first, each file opened before the next older name is looked at: a rotation in
    // between moves a file we hold to an older name, where its inode shows it was read already,
    // and the result stays in order. A name that is gone is skipped.
    std::vector<std::string> parts; // newest first
    std::vector<std::pair<dev_t, ino_t>> seen;
    std::size_t newlines = 0;
    for (unsigned n = 0; n < std::max(max_files, 1u); ++n) {
        fs::path p = n == 0 ? current : rotated(current, n);
        unique_fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
        if (!fd) {
            if (errno == ENOENT) continue;
            fail_errno("open(\"{}\")", p.string());
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) fail_errno("fstat(\"{}\")", p.string());
        std::pair id{st.st_dev, st.st_ino};
        if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
        seen.push_back(id);
        parts.push_back(read_all(fd.get(), p));
        if (lines) {
            newlines += static_cast<std::size_t>(
                std::count(parts.back().begin(), parts.back().end(), '\n'));
            // One newline more than lines proves the older files cannot contribute.
            if (newlines > *lines) break;
        }
    }
    std::string all;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it)
        all += *it;
    if (!lines) return all;
    return std::string(last_lines(all, *lines));
}

} // namespace ctr::tty
