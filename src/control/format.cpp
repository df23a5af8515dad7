#include "ctr/control/format.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "ctr/core/error.hpp"

namespace ctr::control {

namespace {

using std::chrono::milliseconds;

// Text from the supervisor reaches a terminal; control bytes would garble the table or worse.
std::string printable(std::string s) {
    for (char& c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return s;
}

std::string cell(const nlohmann::json& status, const char* key) {
    auto v = status.find(key);
    if (v == status.end() || v->is_null()) return "-";
    if (v->is_string()) return printable(v->get<std::string>());
    return printable(v->dump());
}

std::string uptime_cell(const nlohmann::json& status, std::chrono::system_clock::time_point now) {
    auto state = status.find("state");
    auto started = status.find("started_at");
    if (state == status.end() || *state != "running" || started == status.end() ||
        !started->is_number_integer())
        return "-";
    auto now_ms = std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count();
    // A confused peer may send any integer: clamping to [0, INT64_MAX] keeps the subtraction
    // in range. A start in the future (the clock stepped back) shows as 0s.
    auto at = started->is_number_unsigned() && started->get<std::uint64_t>() > INT64_MAX
                  ? INT64_MAX
                  : started->get<std::int64_t>();
    if (at < 0) return "-";
    return format_uptime(milliseconds(now_ms > at ? now_ms - at : 0));
}

struct signal_name {
    const char* name;
    int number;
};

constexpr std::array<signal_name, 33> signal_names{{
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
    {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},
    {"SYS", SIGSYS},
}};

std::optional<int> parse_int(std::string_view s) {
    int v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

// RTMIN, RTMIN+N, RTMAX, RTMAX-N: the way systemd-based containers are asked to halt.
std::optional<int> parse_realtime(std::string_view s) {
    bool from_min = s.starts_with("RTMIN");
    if (!from_min && !s.starts_with("RTMAX")) return std::nullopt;
    std::optional<int> offset = 0;
    if (s.size() > 5)
        offset = s[5] == (from_min ? '+' : '-') ? parse_int(s.substr(6)) : std::nullopt;
    if (!offset || *offset < 0 || *offset > SIGRTMAX - SIGRTMIN) return std::nullopt;
    return from_min ? SIGRTMIN + *offset : SIGRTMAX - *offset;
}

} // namespace

std::string format_uptime(milliseconds d) {
    auto s = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(d).count());
    if (s < 60) return fmt::format("{}s", s);
    if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
    if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
    return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

std::string format_exit(const nlohmann::json& status) {
    auto sig = status.find("signal");
    std::string out =
        sig != status.end() && !sig->is_null() ? cell(status, "signal") : cell(status, "exit_code");
    auto reason = status.find("reason");
    if (reason != status.end() && reason->is_string() && !reason->get<std::string>().empty())
        out += fmt::format(" ({})", cell(status, "reason"));
    return out;
}

std::string format_bytes(std::uint64_t bytes) {
    if (bytes < 1024) return fmt::format("{}B", bytes);
    constexpr const char* units = "KMGTPE";
    double v = static_cast<double>(bytes);
    int unit = -1;
    while (v >= 1024 && unit < 5) {
        v /= 1024;
        ++unit;
    }
    return fmt::format("{:.1f}{}", v, units[unit]);
}

std::string render_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width;
    for (const auto& r : rows) {
        width.resize(std::max(width.size(), r.size()));
        for (std::size_t i = 0; i < r.size(); ++i)
            width[i] = std::max(width[i], r[i].size());
    }
    std::string out;
    for (const auto& r : rows) {
        // The last column is not padded, so lines carry no trailing blanks.
        for (std::size_t i = 0; i + 1 < r.size(); ++i)
            out += fmt::format("{:<{}}  ", r[i], width[i]);
        if (!r.empty()) out += r.back();
        out += '\n';
    }
    return out;
}

std::string format_ps(const nlohmann::json& containers, std::chrono::system_clock::time_point now) {
    std::vector<std::vector<std::string>> rows{
        {"NAME", "STATE", "PID", "IP", "RESTARTS", "UPTIME", "EXIT", "ERROR"}};
    if (containers.is_array()) {
        for (const auto& c : containers)
            rows.push_back({cell(c, "name"), cell(c, "state"), cell(c, "pid"), cell(c, "ip"),
                            cell(c, "restarts"), uptime_cell(c, now), format_exit(c),
                            cell(c, "error")});
    }
    return render_table(rows);
}

std::string format_net(const nlohmann::json& networks) {
    std::vector<std::vector<std::string>> rows{
        {"NETWORK", "BRIDGE", "SUBNET", "GATEWAY", "CONTAINER", "IP", "ERROR"}};
    if (!networks.is_array()) return render_table(rows);
    for (const auto& n : networks) {
        std::vector<std::string> head{cell(n, "name"), cell(n, "bridge"), cell(n, "subnet"),
                                      cell(n, "gateway")};
        auto members = n.value("containers", nlohmann::json::array());
        if (!members.is_array() || members.empty()) {
            head.insert(head.end(), {"-", "-", "-"});
            rows.push_back(head);
            continue;
        }
        for (const auto& m : members) {
            auto row = head;
            row.insert(row.end(), {cell(m, "name"), cell(m, "ip"), cell(m, "error")});
            rows.push_back(row);
            head = {"", "", "", ""}; // the network's columns only on its first line
        }
    }
    return render_table(rows);
}

std::string format_stats(const nlohmann::json& containers) {
    auto bytes = [](const nlohmann::json& c, const char* key) -> std::string {
        auto v = c.find(key);
        if (v == c.end() || !v->is_number_integer() ||
            (!v->is_number_unsigned() && v->get<std::int64_t>() < 0))
            return "-";
        return format_bytes(v->get<std::uint64_t>());
    };
    auto seconds = [](const nlohmann::json& c) -> std::string {
        auto v = c.find("cpu_seconds");
        if (v == c.end() || !v->is_number() || !std::isfinite(v->get<double>())) return "-";
        return fmt::format("{:.2f}", v->get<double>());
    };
    std::vector<std::vector<std::string>> rows{{"NAME", "MEM", "MEM-PEAK", "PIDS", "CPU(s)"}};
    if (containers.is_array())
        for (const auto& c : containers)
            if (c.is_object())
                rows.push_back({cell(c, "name"), bytes(c, "memory"), bytes(c, "memory_peak"),
                                cell(c, "pids"), seconds(c)});
    return render_table(rows);
}

int parse_signal(std::string_view text) {
    std::string upper(text);
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    std::string_view name = upper;
    if (name.starts_with("SIG")) name.remove_prefix(3);

    if (auto n = parse_int(text)) {
        if (*n >= 1 && *n <= SIGRTMAX) return *n;
    } else if (auto rt = parse_realtime(name)) {
        return *rt;
    } else {
        for (const auto& s : signal_names)
            if (name == s.name) return s.number;
    }
    fail("unknown signal '{}'", printable(std::string(text)));
}

milliseconds parse_seconds(std::string_view text) {
    // Past this the milliseconds would overflow; nobody means a timeout of 30 years anyway.
    constexpr double max_seconds = 1e9;
    std::string_view number = text;
    if (number.ends_with('s')) number.remove_suffix(1);
    double v = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
    if (number.empty() || ec != std::errc() || end != number.data() + number.size() ||
        !std::isfinite(v) || v < 0 || v > max_seconds)
        fail("invalid number of seconds '{}'", printable(std::string(text)));
    return milliseconds(std::llround(v * 1000));
}

} // namespace ctr::control
