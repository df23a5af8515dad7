// The benchmark's figures: a table for people (medians of the repeated runs, the targets of
// issue 4 beside them, crun's ratio) and the same, with every single run, as JSON.
#pragma once

#include "ours.hpp"
#include "seed.hpp"
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ctr::bench {

// Issue 4's targets, for 100 containers.
inline constexpr int target_containers = 100;
inline constexpr double target_start_ms = 300;
inline constexpr double target_stop_ms = 200;
inline constexpr double target_rss_mib = 16;

struct ours_series {
    std::string where;    // "tmpfs", "disk"
    std::string dir;      // the folder the run's state dir was made in
    std::string workload; // "pause", "busybox" (workload.hpp)
    int containers = 0;
    std::vector<ours_result> runs;
};

struct seed_series {
    int containers = 0;
    std::vector<seed_result> runs;
};

struct report {
    std::string host;          // CPUs, kernel
    std::string supervisor;    // its path
    std::string rootfs;        // the main rows' image
    std::string workload;      // the main rows' (and crun's) workload: "pause", "busybox"
    std::string workload_what; // its command, for people
    int repeat = 0;
    std::vector<ours_series> ours;
    std::vector<seed_series> seed;
    std::optional<std::string> seed_skipped; // why crun was not measured
    std::vector<std::string> notes;

    bool ok() const;
};

std::string to_text(const report& r);
nlohmann::json to_json(const report& r);

} // namespace ctr::bench
