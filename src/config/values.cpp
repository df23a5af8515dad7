#include "values.hpp"

#include <cerrno>
#include <charconv>
#include <grp.h>
#include <limits>
#include <stdexcept>
#include <sys/stat.h>
#include <system_error>

#include <fmt/format.h>

#include "ctr/core/inet.hpp"

namespace ctr::config {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

} // namespace

bool parse_bool(std::string_view v) {
    for (auto t : {"true", "yes", "1", "on"})
        if (iequals(v, t)) return true;
    for (auto f : {"false", "no", "0", "off"})
        if (iequals(v, f)) return false;
    throw std::invalid_argument("expected true/false, yes/no, 1/0 or on/off");
}

restart_policy parse_restart(std::string_view v) {
    for (auto p : {restart_policy::no, restart_policy::on_failure, restart_policy::always})
        if (v == to_string(p)) return p;
    throw std::invalid_argument("expected no, on-failure or always");
}

int parse_replicas(std::string_view v) {
    int n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || end != v.data() + v.size() || n < 1 || n > 1000)
        throw std::invalid_argument("expected a whole number from 1 to 1000");
    return n;
}

std::vector<std::string> parse_command(std::string_view v) {
    auto argv = split_command(v);
    if (argv.empty()) throw std::invalid_argument("empty command");
    return argv;
}

std::string parse_env_entry(std::string_view v) {
    auto eq = v.find('=');
    if (eq == std::string_view::npos) throw std::invalid_argument("expected NAME=VALUE");
    if (eq == 0) throw std::invalid_argument("empty variable name");
    return std::string(v);
}

std::string parse_workdir(std::string_view v) {
    if (v.empty() || v.front() != '/') throw std::invalid_argument("must be an absolute path");
    return std::string(v);
}

std::string parse_hostname(std::string_view v) {
    if (auto why = invalid_hostname_reason(v)) throw std::invalid_argument(*why);
    return std::string(v);
}

std::string parse_group(std::string_view v) {
    std::string name(v);
    if (name.empty() || !::getgrnam(name.c_str()))
        throw std::invalid_argument("no group named '" + name + "'");
    return name;
}

std::string parse_network_name(std::string_view v) {
    if (auto why = invalid_name_reason(v)) throw std::invalid_argument(*why);
    return std::string(v);
}

std::string parse_ifname(std::string_view v) {
    if (auto why = inet::invalid_ifname_reason(v)) throw std::invalid_argument(*why);
    return std::string(v);
}

std::string parse_subnet(std::string_view v) {
    inet::parse_subnet(v);
    return std::string(v);
}

std::string parse_address(std::string_view v) {
    inet::parse_address(v);
    return std::string(v);
}

std::string parse_ip(std::string_view v) {
    if (v == "auto") return std::string(v);
    // Something without a dot was not meant as an address: say what the key takes.
    if (v.find('.') == std::string_view::npos)
        throw std::invalid_argument("expected auto or an IPv4 address like 10.88.0.5");
    inet::parse_address(v);
    return std::string(v);
}

unsigned parse_mtu(std::string_view v) {
    unsigned n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || end != v.data() + v.size() || n < 576 || n > 9000)
        throw std::invalid_argument("expected a whole number from 576 to 9000");
    return n;
}

namespace {
std::uint32_t parse_id_count(std::string_view v) {
    std::uint32_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc{} || end != v.data() + v.size() || n < 1 || n > max_host_id)
        throw std::invalid_argument(
            fmt::format("expected a whole number from 1 to {}", max_host_id));
    return n;
}
} // namespace

std::uint32_t parse_userns_base(std::string_view v) {
    if (v == "0")
        throw std::invalid_argument("0 would map the container's root to the host's root");
    return parse_id_count(v);
}

std::uint32_t parse_userns_size(std::string_view v) {
    return parse_id_count(v);
}

std::uint64_t parse_size(std::string_view v, std::string_view example) {
    constexpr std::uint64_t max = std::numeric_limits<std::int64_t>::max(); // v1 takes a signed
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    std::string_view suffix = v.substr(static_cast<std::size_t>(end - v.data()));
    if (ec == std::errc::result_out_of_range) throw std::invalid_argument("too large");
    int shift = -1;
    if (suffix.empty())
        shift = 0;
    else if (suffix.size() == 1)
        for (auto [c, s] : {std::pair{'k', 10}, {'m', 20}, {'g', 30}, {'t', 40}})
            if (suffix[0] == c || suffix[0] == c - 32) shift = s;
    if (ec != std::errc{} || shift < 0)
        throw std::invalid_argument(
            fmt::format("expected bytes with an optional K, M, G or T suffix, like {}", example));
    if (n > (max >> shift)) throw std::invalid_argument("too large");
    return n << shift;
}

std::uint64_t parse_memory(std::string_view v) {
    constexpr std::uint64_t min = 4ull << 20;
    std::uint64_t n = parse_size(v, "64M");
    if (n < min) throw std::invalid_argument("at least 4M (4194304 bytes)");
    return n;
}

std::uint64_t parse_log_max_size(std::string_view v) {
    // Smaller files would rotate on nearly every write of a busy container.
    constexpr std::uint64_t min = 1u << 10;
    std::uint64_t n = parse_size(v, "10M");
    if (n < min) throw std::invalid_argument("at least 1K (1024 bytes)");
    return n;
}

unsigned parse_log_max_files(std::string_view v) {
    unsigned n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || end != v.data() + v.size() || n < 1 || n > 1000)
        throw std::invalid_argument("expected a whole number from 1 to 1000");
    return n;
}

std::optional<std::uint64_t> parse_pids(std::string_view v) {
    // The kernel's PID_MAX_LIMIT: pids.max refuses more.
    constexpr std::uint64_t max = 4'194'304;
    if (v == "max") return std::nullopt;
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || end != v.data() + v.size() || n < 1 || n > max)
        throw std::invalid_argument("expected a whole number from 1 to 4194304, or max");
    return n;
}

double parse_cpu(std::string_view v) {
    // Digits with at most one '.', nothing else: no sign, exponent, inf or nan.
    bool digits = !v.empty() && v.front() != '.' && v.back() != '.' &&
                  v.find_first_not_of("0123456789.") == std::string_view::npos &&
                  v.find('.') == v.rfind('.');
    double n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (!digits || ec != std::errc{} || end != v.data() + v.size())
        throw std::invalid_argument("expected a number of CPUs like 0.5 or 2");
    // The CFS quota is at least 1 ms of the 100 ms period the supervisor uses.
    if (n < 0.01) throw std::invalid_argument("at least 0.01 (1 ms of every 100 ms)");
    if (n > 1024) throw std::invalid_argument("at most 1024");
    return n;
}

std::filesystem::path parse_path(std::string_view v, const value_context& ctx) {
    if (v.empty()) throw std::invalid_argument("empty path");
    auto p = (ctx.base_dir / std::filesystem::path(v)).lexically_normal();
    // "dir/" would make lstat follow a symlink named dir; keep paths without the trailing slash.
    if (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
    return p;
}

std::filesystem::path parse_rootfs(std::string_view v, const value_context& ctx) {
    auto p = parse_path(v, ctx);
    if (!ctx.check_paths) return p;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
        int err = errno;
        if (err == ENOENT)
            throw std::invalid_argument(fmt::format("{} does not exist", p.string()));
        throw std::invalid_argument(
            fmt::format("{}: {}", p.string(), std::generic_category().message(err)));
    }
    if (S_ISLNK(st.st_mode))
        throw std::invalid_argument(fmt::format("{} is a symlink", p.string()));
    if (!S_ISDIR(st.st_mode))
        throw std::invalid_argument(fmt::format("{} is not a directory", p.string()));
    return p;
}

} // namespace ctr::config
