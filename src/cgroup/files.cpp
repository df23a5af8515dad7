#include "ctr/cgroup/files.hpp"

#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <unistd.h>

#include "ctr/core/error.hpp"
#include "ctr/core/unique_fd.hpp"
#include "ctr/sys/files.hpp"

namespace ctr::cgroup {

namespace fs = std::filesystem;

namespace {

// 0, or the errno; ENOENT is left to the caller to judge.
int read_all(const fs::path& file, std::string& out) {
    return sys::read_file_into(file, out, O_NOFOLLOW);
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.remove_suffix(1);
    while (!s.empty() && s.front() == ' ')
        s.remove_prefix(1);
    return s;
}

} // namespace

std::string read_knob(const fs::path& file) {
    std::string out;
    if (int err = read_all(file, out)) throw_sys(err, fmt::format("read(\"{}\")", file.string()));
    return out;
}

std::optional<std::string> try_read_knob(const fs::path& file) {
    std::string out;
    int err = read_all(file, out);
    if (err == ENOENT) return std::nullopt;
    if (err) throw_sys(err, fmt::format("read(\"{}\")", file.string()));
    return out;
}

void write_knob(const fs::path& file, std::string_view value) {
    // O_TRUNC means nothing to cgroupfs; it keeps a fake tree's files one value each.
    unique_fd fd(::open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) throw_errno("open(\"{}\")", file.string());
    ssize_t n;
    do {
        n = ::write(fd.get(), value.data(), value.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) throw_errno("write(\"{}\" <- \"{}\")", file.string(), value);
    if (static_cast<std::size_t>(n) != value.size())
        throw_sys(EIO, fmt::format("write(\"{}\" <- \"{}\"): short write", file.string(), value));
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
    text = trim(text);
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return n;
}

std::optional<std::uint64_t> parse_keyed(std::string_view text, std::string_view key) {
    while (!text.empty()) {
        auto eol = text.find('\n');
        auto line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
        if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ' ')
            return parse_number(line.substr(key.size() + 1));
    }
    return std::nullopt;
}

std::vector<pid_t> parse_pids(std::string_view text) {
    std::vector<pid_t> out;
    while (!text.empty()) {
        auto eol = text.find('\n');
        auto line = trim(text.substr(0, eol));
        text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
        pid_t pid = 0;
        auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
        if (!line.empty() && ec == std::errc{} && end == line.data() + line.size() && pid > 0)
            out.push_back(pid);
    }
    return out;
}

} // namespace ctr::cgroup
