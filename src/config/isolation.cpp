#include "isolation.hpp"

#include "text.hpp"
#include <cerrno>
#include <charconv>
#include <stdexcept>
#include <sys/stat.h>
#include <system_error>

#include <fmt/format.h>

#include "ctr/config/capabilities.hpp"

namespace ctr::config {
namespace {

// The kernel's ceiling for fs.nr_open, which bounds RLIMIT_NOFILE.
constexpr std::uint64_t max_nofile = std::uint64_t{1} << 30;

std::uint64_t parse_count(std::string_view v) {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc{} || end != v.data() + v.size() || n > max_nofile)
        throw std::invalid_argument(
            fmt::format("expected N or SOFT:HARD, whole numbers up to {}", max_nofile));
    return n;
}

// "/a//b/./c" -> "/a/b/c"; refuses "..", which could only mean something outside.
std::string absolute_path(std::string_view v, const char* what) {
    if (v.empty() || v.front() != '/')
        throw std::invalid_argument(
            fmt::format("{} path '{}' is not absolute", what, printable(v)));
    std::string out;
    for (std::size_t pos = 0; pos < v.size();) {
        auto end = v.find('/', pos);
        if (end == std::string_view::npos) end = v.size();
        auto part = v.substr(pos, end - pos);
        pos = end + 1;
        if (part.empty() || part == ".") continue;
        if (part == "..")
            throw std::invalid_argument(
                fmt::format("{} path '{}' contains '..'", what, printable(v)));
        out += '/';
        out += part;
    }
    return out.empty() ? "/" : out;
}

bool inside(const std::string& path, std::string_view dir) {
    return path == dir || (path.starts_with(dir) && path[dir.size()] == '/');
}

} // namespace

std::uint64_t parse_capability_list(std::string_view v) {
    return parse_capabilities(v);
}

bool parse_seccomp(std::string_view v) {
    if (v == "default") return true;
    if (v == "unconfined") return false;
    throw std::invalid_argument("expected default or unconfined");
}

rlimit_pair parse_nofile(std::string_view v) {
    auto colon = v.find(':');
    rlimit_pair r;
    r.soft = parse_count(v.substr(0, colon));
    r.hard = colon == std::string_view::npos ? r.soft : parse_count(v.substr(colon + 1));
    if (r.soft > r.hard)
        throw std::invalid_argument(
            fmt::format("soft limit {} is above the hard limit {}", r.soft, r.hard));
    return r;
}

bind_mount parse_mount(std::string_view v, const value_context& ctx) {
    auto first = v.find(':');
    if (first == std::string_view::npos)
        throw std::invalid_argument("expected HOST:CONTAINER or HOST:CONTAINER:ro");
    auto second = v.find(':', first + 1);
    auto mode = second == std::string_view::npos ? std::string_view{} : v.substr(second + 1);
    bind_mount m;
    if (mode == "ro")
        m.readonly = true;
    else if (!mode.empty() && mode != "rw")
        throw std::invalid_argument(
            fmt::format("unknown option '{}' (expected ro or rw)", printable(mode)));
    else if (second != std::string_view::npos && mode.empty())
        throw std::invalid_argument("empty option after the second ':' (expected ro or rw)");
    m.source = absolute_path(v.substr(0, first), "host");
    m.target =
        absolute_path(v.substr(first + 1, second == std::string_view::npos ? std::string_view::npos
                                                                           : second - first - 1),
                      "container");
    if (m.target == "/") throw std::invalid_argument("cannot bind over the container's root");
    for (std::string_view dir : {"/proc", "/sys"})
        if (inside(m.target, dir))
            throw std::invalid_argument(fmt::format(
                "container path {} is inside {}, which only the supervisor mounts", m.target, dir));
    if (!ctx.check_paths) return m;
    struct stat st {};
    if (::stat(m.source.c_str(), &st) != 0) {
        int err = errno;
        if (err == ENOENT)
            throw std::invalid_argument(fmt::format("{} does not exist", m.source.string()));
        throw std::invalid_argument(
            fmt::format("{}: {}", m.source.string(), std::generic_category().message(err)));
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        throw std::invalid_argument(
            fmt::format("{} is neither a folder nor a regular file", m.source.string()));
    return m;
}

} // namespace ctr::config
