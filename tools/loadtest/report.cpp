#include "report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace ctr::loadtest {

using nlohmann::json;

bool leaks::clean() const {
    return links.empty() && netns.empty() && mounts.empty() && processes.empty() && cgroups.empty();
}

namespace {

template <typename T> json or_null(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

json to_json(const percentiles& p) {
    return {{"p50", p.p50}, {"p99", p.p99}, {"max", p.max}};
}

std::string ms(const std::optional<double>& v) {
    return v ? fmt::format("{:.0f} ms", *v) : "-";
}

std::string list_or(const std::vector<std::string>& v, const char* none) {
    return v.empty() ? none : fmt::format("{}", fmt::join(v, ", "));
}

} // namespace

json to_json(const result& r) {
    const auto& l = r.leaks;
    long lost = r.sent - r.received;
    return {
        {"ok", r.ok()},
        {"errors", r.errors},
        {"interrupted", r.interrupted_by != 0},
        {"supervisor_log_tail", r.log_tail},
        {"containers", {{"requested", r.containers}, {"running", r.running}, {"failed", r.failed}}},
        {"network", {{"bridge", r.bridge}, {"subnet", r.subnet}}},
        {"peers", r.peers},
        {"pings_per_peer", r.pings_per_peer},
        {"duration_s", r.duration_s},
        {"socket_ms", or_null(r.socket_ms)},
        {"all_running_ms", or_null(r.all_running_ms)},
        {"peers_reachable_ms", or_null(r.peers_ok_ms)},
        {"pings_done_ms", or_null(r.pings_done_ms)},
        {"start_latency_ms", to_json(r.start_latency_ms)},
        {"pings",
         {{"sent", r.sent},
          {"received", r.received},
          {"lost", lost},
          {"loss_percent",
           r.sent ? 100.0 * static_cast<double>(lost) / static_cast<double>(r.sent) : 0.0}}},
        {"rtt_ms", {{"p50", r.rtt_ms.p50}, {"p99", r.rtt_ms.p99}}},
        {"supervisor",
         {{"peak_rss_kib", or_null(r.peak_rss_kib)},
          {"cpu_seconds", or_null(r.cpu_seconds)},
          {"exit_code", or_null(r.exit_code)},
          {"stop_ms", or_null(r.stop_ms)}}},
        {"leaks",
         {{"clean", l.clean()},
          {"links", l.links},
          {"netns", l.netns},
          {"mounts", l.mounts},
          {"processes", l.processes},
          {"cgroups", l.cgroups},
          {"not_cleaned", l.not_cleaned},
          {"lingered", r.lingered},
          {"lingered_ms", or_null(r.lingered_ms)}}},
    };
}

std::string to_text(const result& r) {
    std::string out;
    auto line = [&](const char* label, const std::string& text) {
        out += fmt::format("{:<17}{}\n", label, text);
    };
    line("load test", fmt::format("{} containers on bridge {} ({}), each pinging {} peer(s) {} "
                                  "times",
                                  r.containers, r.bridge, r.subnet, r.peers, r.pings_per_peer));
    line("running",
         fmt::format("{} of {}{}", r.running, r.containers,
                     r.failed.empty() ? "" : fmt::format(" ({} failed)", r.failed.size())));
    line("all running", fmt::format("{} after launch (control socket up after {})",
                                    ms(r.all_running_ms), ms(r.socket_ms)));
    const auto& s = r.start_latency_ms;
    line("start latency",
         fmt::format("p50 {:.0f} ms, p99 {:.0f} ms, max {:.0f} ms", s.p50, s.p99, s.max));
    line("peers reachable", fmt::format("{} after launch", ms(r.peers_ok_ms)));
    long lost = r.sent - r.received;
    line("pings",
         fmt::format("{} sent, {} received, {} lost ({:.2f} %)", r.sent, r.received, lost,
                     r.sent ? 100.0 * static_cast<double>(lost) / static_cast<double>(r.sent)
                            : 0.0));
    line("rtt", fmt::format("p50 {:.3f} ms, p99 {:.3f} ms", r.rtt_ms.p50, r.rtt_ms.p99));
    line("supervisor",
         fmt::format("peak RSS {}, CPU {}, stopped in {}, exit {}",
                     r.peak_rss_kib
                         ? fmt::format("{:.1f} MiB", static_cast<double>(*r.peak_rss_kib) / 1024)
                         : "-",
                     r.cpu_seconds ? fmt::format("{:.2f} s", *r.cpu_seconds) : "-", ms(r.stop_ms),
                     r.exit_code ? std::to_string(*r.exit_code) : "-"));
    const auto& l = r.leaks;
    if (l.clean()) {
        line("leak check", "clean (links, netns, mounts, processes, cgroups)");
    } else {
        line("leak check", "LEAKS");
        for (auto [what, v] :
             {std::pair{"  links", &l.links}, std::pair{"  netns", &l.netns},
              std::pair{"  mounts", &l.mounts}, std::pair{"  processes", &l.processes},
              std::pair{"  cgroups", &l.cgroups}})
            if (!v->empty()) line(what, list_or(*v, ""));
    }
    if (!r.lingered.empty())
        line("  lingering",
             fmt::format("{} object(s) still there when the supervisor exited, gone {} later: {}",
                         r.lingered.size(), ms(r.lingered_ms), list_or(r.lingered, "")));
    if (!l.not_cleaned.empty()) line("left behind", list_or(l.not_cleaned, ""));
    line("result", r.ok() ? "PASS" : "FAIL");
    for (auto& e : r.errors)
        line("  why", e);
    return out;
}

} // namespace ctr::loadtest
