#include "report.hpp"

#include "host.hpp"
#include <algorithm>
#include <cmath>
#include <functional>

#include <fmt/format.h>

namespace ctr::bench {

using nlohmann::json;

namespace {

template <typename R>
std::vector<double> each(const std::vector<R>& runs, std::function<double(const R&)> f) {
    std::vector<double> out;
    for (auto& r : runs)
        out.push_back(f(r));
    return out;
}

template <typename R> double med(const std::vector<R>& runs, std::function<double(const R&)> f) {
    return median(each(runs, f));
}

double min_of(std::vector<double> v) {
    std::erase_if(v, [](double x) { return std::isnan(x); });
    return v.empty() ? NAN : *std::min_element(v.begin(), v.end());
}
double max_of(std::vector<double> v) {
    std::erase_if(v, [](double x) { return std::isnan(x); });
    return v.empty() ? NAN : *std::max_element(v.begin(), v.end());
}

std::string ms(double v, int width = 0) {
    auto s = std::isnan(v) ? std::string("-")
             : v >= 100    ? fmt::format("{:.0f} ms", v)
                           : fmt::format("{:.1f} ms", v);
    return width ? fmt::format("{:>{}}", s, width) : s;
}

std::string ms2(double v) {
    return std::isnan(v) ? "-" : fmt::format("{:.2f} ms", v);
}

// "[41-45]": the spread of the runs, or nothing for a single run.
std::string range(const std::vector<double>& v) {
    auto lo = min_of(v), hi = max_of(v);
    if (std::isnan(lo) || v.size() < 2) return "";
    return fmt::format("[{:.0f}-{:.0f}]", lo, hi);
}

std::string mib(double kib) {
    return kib < 0 || std::isnan(kib) ? "-" : fmt::format("{:.1f} MiB", kib / 1024);
}

json number(double v) {
    return std::isnan(v) ? json(nullptr) : json(v);
}

std::string verdict(double value, double target) {
    if (std::isnan(value)) return "not measured";
    return value <= target ? "met" : fmt::format("MISSED (x{:.2f})", value / target);
}

// The rows of another workload than the main one (the busybox row) are there for context only.
bool main_workload(const report& r, const ours_series& s) {
    return s.workload == r.workload;
}

std::string label(const report& r, const ours_series& s) {
    if (!main_workload(r, s))
        return fmt::format("workload {}",
                           s.workload == "busybox" ? "busybox sh + sleep" : s.workload);
    return fmt::format("state on {} ({})", s.where == "tmpfs" ? "tmpfs" : "disk", s.dir);
}

template <typename R> bool all_ok(const std::vector<R>& runs) {
    return std::all_of(runs.begin(), runs.end(), [](auto& r) { return r.ok(); });
}

const ours_series* tmpfs_series(const report& r, int n) {
    for (auto& s : r.ours)
        if (s.where == "tmpfs" && s.containers == n && main_workload(r, s)) return &s;
    return nullptr;
}

} // namespace

bool report::ok() const {
    for (auto& s : ours)
        if (!all_ok(s.runs)) return false;
    for (auto& s : seed)
        if (!all_ok(s.runs)) return false;
    return true;
}

std::string to_text(const report& r) {
    std::string out;
    out += fmt::format("net-bench: {} | ctr-supervisor {} | workload {} | image {}\n", r.host,
                       r.supervisor, r.workload_what, r.rootfs);
    out += fmt::format(
        "Each figure is the median of {} run(s); [min-max] of the runs beside the totals.\n"
        "all running: from fork+exec of ctr-supervisor until `wait --state running` on every\n"
        "  container is answered (a container is running only after exec, and its command is\n"
        "  exec'd only after its eth0, address and default route exist: running = network ready;\n"
        "  `net` counts the containers whose eth0, address and route were then seen from "
        "outside).\n"
        "first: the first container's started_at. stop+clean: from SIGTERM until the supervisor\n"
        "  has exited and no bridge, veth, container process, mount, cgroup or state file is "
        "left.\n"
        "CPU: the supervisor's own / its containers' (set-up between clone and exec included).\n\n",
        r.repeat);

    out += fmt::format("{:<36} {:>4} {:>19} {:>8} {:>8} {:>19} {:>8} {:>9} {:>9} {:>11} {:>7} {}\n",
                       "ctr-supervisor", "N", "all running", "per ctr", "first", "stop+clean",
                       "per ctr", "VmRSS", "VmHWM", "CPU s", "net", "clean");
    for (auto& s : r.ours) {
        using R = ours_result;
        auto start = each<R>(s.runs, [](auto& x) { return x.all_running_ms; });
        auto stop = each<R>(s.runs, [](auto& x) { return x.stop_clean_ms; });
        double n = s.containers;
        auto net_ok = med<R>(s.runs, [](auto& x) { return static_cast<double>(x.network_ok); });
        bool lingered =
            std::any_of(s.runs.begin(), s.runs.end(), [](auto& x) { return !x.lingered.empty(); });
        out += fmt::format(
            "{:<36} {:>4} {:>8} {:>10} {:>8} {:>8} {:>8} {:>10} {:>8} {:>9} {:>9} {:>11} {:>7} "
            "{}\n",
            label(r, s), s.containers, ms(median(start)), range(start), ms2(median(start) / n),
            ms(med<R>(s.runs, [](auto& x) { return x.first_running_ms; })), ms(median(stop)),
            range(stop), ms2(median(stop) / n),
            mib(med<R>(s.runs, [](auto& x) { return static_cast<double>(x.rss_kib); })),
            mib(med<R>(s.runs, [](auto& x) { return static_cast<double>(x.hwm_kib); })),
            fmt::format("{:.2f}/{:.2f}", med<R>(s.runs, [](auto& x) { return x.cpu_self_s; }),
                        med<R>(s.runs, [](auto& x) { return x.cpu_children_s; })),
            fmt::format("{:.0f}/{}", net_ok, s.containers),
            !all_ok(s.runs) ? "NO"
            : lingered      ? "yes (after linger)"
                            : "yes");
    }
    out += fmt::format("{:<36} {:>4} {:>19} {:>8} {:>8} {:>19} {:>8} {:>9} {:>9}\n",
                       "target (issue 4)", target_containers,
                       fmt::format("<= {:.0f} ms", target_start_ms), "<= 3 ms", "",
                       fmt::format("<= {:.0f} ms", target_stop_ms), "<= 2 ms", "",
                       fmt::format("<= {:.0f} MiB", target_rss_mib));

    if (auto* t = tmpfs_series(r, target_containers)) {
        using R = ours_result;
        auto start = med<R>(t->runs, [](auto& x) { return x.all_running_ms; });
        auto stop = med<R>(t->runs, [](auto& x) { return x.stop_clean_ms; });
        auto hwm = med<R>(t->runs, [](auto& x) { return static_cast<double>(x.hwm_kib); });
        out += fmt::format("\nAt N = {} (state on tmpfs):\n", target_containers);
        out += fmt::format("  all running with network  {:>9} (target {:.0f} ms)   {}\n", ms(start),
                           target_start_ms, verdict(start, target_start_ms));
        out += fmt::format("  per container             {:>9} (target 3 ms)     {}\n",
                           ms2(start / target_containers), verdict(start / target_containers, 3));
        out += fmt::format("  stopped and cleaned       {:>9} (target {:.0f} ms)   {}\n", ms(stop),
                           target_stop_ms, verdict(stop, target_stop_ms));
        out += fmt::format("  VmHWM                     {:>9} (target {:.0f} MiB)   {}\n", mib(hwm),
                           target_rss_mib, verdict(hwm / 1024, target_rss_mib));
        for (auto& s : r.ours) {
            if (s.where != "disk" || s.containers != target_containers || !main_workload(r, s))
                continue;
            auto dstart = med<R>(s.runs, [](auto& x) { return x.all_running_ms; });
            auto dstop = med<R>(s.runs, [](auto& x) { return x.stop_clean_ms; });
            out += fmt::format(
                "  state on disk instead     start {} ({:+.0f} ms, {:+.2f} ms per container), "
                "stop {} ({:+.0f} ms)\n",
                ms(dstart), dstart - start, (dstart - start) / target_containers, ms(dstop),
                dstop - stop);
        }
        // The targets are judged on the main workload; what the old one costs, for context.
        for (auto& s : r.ours) {
            if (main_workload(r, s) || s.containers != target_containers) continue;
            auto wstart = med<R>(s.runs, [](auto& x) { return x.all_running_ms; });
            auto wstop = med<R>(s.runs, [](auto& x) { return x.stop_clean_ms; });
            out += fmt::format(
                "  {:<25} start {} ({:+.0f} ms, {:+.2f} ms per container), stop {} ({:+.0f} ms)\n",
                fmt::format("workload {} instead", s.workload), ms(wstart), wstart - start,
                (wstart - start) / target_containers, ms(wstop), wstop - stop);
        }
    }

    out += "\n";
    if (r.seed_skipped) {
        out += fmt::format("crun run -d + ip: skipped ({})\n", *r.seed_skipped);
    } else if (!r.seed.empty()) {
        out += fmt::format(
            "crun run -d + ip, one container after the other (the seed README's way), workload\n"
            "{} (as in the main rows). The parts are means per container: crun = crun run -d;\n"
            "ip host = ip link add veth, ip link set netns, ip link set master up; ip inside =\n"
            "nsenter -n ip addr add, link set up, route add default; stop = ip link del + crun\n"
            "delete -f per container, then the bridge.\n",
            r.workload_what);
        out += fmt::format("{:<14} {:>4} {:>19} {:>9} {:>9} {:>9} {:>9} {:>19} {:>9} {:>9} {:>9} "
                           "{:>7} {:>14} {:>13}\n",
                           "crun + ip", "N", "all running", "per ctr", "crun", "ip host",
                           "ip inside", "stop+clean", "per ctr", "link del", "crun del", "net",
                           "x ours start", "x ours stop");
        for (auto& s : r.seed) {
            using R = seed_result;
            auto start = each<R>(s.runs, [](auto& x) { return x.all_running_ms; });
            auto stop = each<R>(s.runs, [](auto& x) { return x.stop_clean_ms; });
            double n = s.containers;
            std::string xstart = "-", xstop = "-";
            if (auto* t = tmpfs_series(r, s.containers)) {
                auto os = med<ours_result>(t->runs, [](auto& x) { return x.all_running_ms; });
                auto ot = med<ours_result>(t->runs, [](auto& x) { return x.stop_clean_ms; });
                auto ratio = [](double a, double b) {
                    return std::isnan(a) || std::isnan(b) ? std::string("-")
                                                          : fmt::format("x{:.1f}", a / b);
                };
                xstart = ratio(median(start), os);
                xstop = ratio(median(stop), ot);
            }
            out += fmt::format(
                "{:<14} {:>4} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10} {:>9} {:>9} {:>9} "
                "{:>7} {:>14} {:>13}\n",
                all_ok(s.runs) ? "" : "(FAILED)", s.containers, ms(median(start)), range(start),
                ms2(median(start) / n), ms2(med<R>(s.runs, [](auto& x) { return x.crun_run_ms; })),
                ms2(med<R>(s.runs, [](auto& x) { return x.host_ip_ms; })),
                ms2(med<R>(s.runs, [](auto& x) { return x.inside_ip_ms; })), ms(median(stop)),
                range(stop), ms2(median(stop) / n),
                ms2(med<R>(s.runs, [](auto& x) { return x.link_del_ms; })),
                ms2(med<R>(s.runs, [](auto& x) { return x.crun_delete_ms; })),
                fmt::format(
                    "{:.0f}/{}",
                    med<R>(s.runs, [](auto& x) { return static_cast<double>(x.network_ok); }),
                    s.containers),
                xstart, xstop);
        }
    }

    std::vector<std::string> problems;
    // At most a few lines per run and kind: a hundred leaked veths say no more than five.
    auto add = [&](const std::string& where, const std::string& what,
                   const std::vector<std::string>& items) {
        for (std::size_t i = 0; i < items.size() && i < 5; ++i)
            problems.push_back(where + ": " + what + items[i]);
        if (items.size() > 5)
            problems.push_back(fmt::format("{}: ... and {} more", where, items.size() - 5));
    };
    for (auto& s : r.ours)
        for (std::size_t i = 0; i < s.runs.size(); ++i) {
            auto& x = s.runs[i];
            auto where = fmt::format("ctr-supervisor N={} {} {} run {}", s.containers, s.where,
                                     s.workload, i + 1);
            add(where, "", x.errors);
            add(where, "left behind: ", x.leaks);
            add(where, "network: ", x.network_problems);
            if (!x.log_tail.empty()) problems.push_back(where + ": end of its log:\n" + x.log_tail);
        }
    for (auto& s : r.seed)
        for (std::size_t i = 0; i < s.runs.size(); ++i) {
            auto& x = s.runs[i];
            auto where = fmt::format("crun N={} run {}", s.containers, i + 1);
            add(where, "", x.errors);
            add(where, "left behind: ", x.leaks);
            add(where, "network: ", x.network_problems);
            if (!x.log_tail.empty()) problems.push_back(where + ": end of its log:\n" + x.log_tail);
        }
    for (auto& n : r.notes)
        out += "note: " + n + "\n";
    for (auto& p : problems)
        out += "PROBLEM: " + p + "\n";
    return out;
}

json to_json(const report& r) {
    json out{{"host", r.host},
             {"supervisor", r.supervisor},
             {"rootfs", r.rootfs},
             {"workload", r.workload},
             {"repeat", r.repeat},
             {"notes", r.notes},
             {"ok", r.ok()},
             {"targets",
              {{"containers", target_containers},
               {"all_running_ms", target_start_ms},
               {"stop_clean_ms", target_stop_ms},
               {"rss_mib", target_rss_mib}}}};
    auto ours = json::array();
    for (auto& s : r.ours) {
        auto runs = json::array();
        for (auto& x : s.runs)
            runs.push_back({{"workload", x.workload},
                            {"all_running_ms", number(x.all_running_ms)},
                            {"socket_ms", number(x.socket_ms)},
                            {"first_running_ms", number(x.first_running_ms)},
                            {"last_running_ms", number(x.last_running_ms)},
                            {"running", x.running},
                            {"network_ok", x.network_ok},
                            {"network_problems", x.network_problems},
                            {"trap_wait_ms", number(x.trap_wait_ms)},
                            {"vm_rss_kib", x.rss_kib},
                            {"vm_hwm_running_kib", x.hwm_running_kib},
                            {"vm_hwm_kib", x.hwm_kib},
                            {"stop_exit_ms", number(x.stop_exit_ms)},
                            {"stop_clean_ms", number(x.stop_clean_ms)},
                            {"lingered", x.lingered},
                            {"leaks", x.leaks},
                            {"cpu_self_s", number(x.cpu_self_s)},
                            {"cpu_children_s", number(x.cpu_children_s)},
                            {"exit_code", x.exit_code},
                            {"wrapped", x.wrapped},
                            {"state_fs", x.state_fs},
                            {"bridge", x.bridge},
                            {"subnet", x.subnet},
                            {"errors", x.errors}});
        using R = ours_result;
        ours.push_back(
            {{"state", s.where},
             {"workload", s.workload},
             {"dir", s.dir},
             {"containers", s.containers},
             {"median",
              {{"all_running_ms", number(med<R>(s.runs, [](auto& x) { return x.all_running_ms; }))},
               {"stop_clean_ms", number(med<R>(s.runs, [](auto& x) { return x.stop_clean_ms; }))},
               {"stop_exit_ms", number(med<R>(s.runs, [](auto& x) { return x.stop_exit_ms; }))},
               {"vm_rss_kib", number(med<R>(s.runs, [](auto& x) { return double(x.rss_kib); }))},
               {"vm_hwm_kib", number(med<R>(s.runs, [](auto& x) { return double(x.hwm_kib); }))}}},
             {"runs", runs}});
    }
    auto seed = json::array();
    for (auto& s : r.seed) {
        auto runs = json::array();
        for (auto& x : s.runs)
            runs.push_back({{"workload", x.workload},
                            {"all_running_ms", number(x.all_running_ms)},
                            {"stop_clean_ms", number(x.stop_clean_ms)},
                            {"crun_run_ms", number(x.crun_run_ms)},
                            {"host_ip_ms", number(x.host_ip_ms)},
                            {"inside_ip_ms", number(x.inside_ip_ms)},
                            {"veth_add_ms", number(x.veth_add_ms)},
                            {"netns_move_ms", number(x.netns_move_ms)},
                            {"master_up_ms", number(x.master_up_ms)},
                            {"link_del_ms", number(x.link_del_ms)},
                            {"crun_delete_ms", number(x.crun_delete_ms)},
                            {"network_ok", x.network_ok},
                            {"cgroup_workaround", x.cgroup_workaround},
                            {"lingered", x.lingered},
                            {"leaks", x.leaks},
                            {"errors", x.errors}});
        using R = seed_result;
        json entry{
            {"containers", s.containers},
            {"median",
             {{"all_running_ms", number(med<R>(s.runs, [](auto& x) { return x.all_running_ms; }))},
              {"stop_clean_ms", number(med<R>(s.runs, [](auto& x) { return x.stop_clean_ms; }))}}},
            {"runs", runs}};
        if (auto* t = tmpfs_series(r, s.containers)) {
            entry["ratio_to_ours"] = {
                {"start",
                 number(med<R>(s.runs, [](auto& x) { return x.all_running_ms; }) /
                        med<ours_result>(t->runs, [](auto& x) { return x.all_running_ms; }))},
                {"stop",
                 number(med<R>(s.runs, [](auto& x) { return x.stop_clean_ms; }) /
                        med<ours_result>(t->runs, [](auto& x) { return x.stop_clean_ms; }))}};
        }
        seed.push_back(entry);
    }
    out["ctr_supervisor"] = ours;
    out["crun_ip"] = seed;
    out["crun_skipped"] = r.seed_skipped ? json(*r.seed_skipped) : json(nullptr);
    return out;
}

} // namespace ctr::bench
