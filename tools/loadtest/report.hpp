// What a load test run measured and found, as one JSON object or as lines for a person.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ctr::loadtest {

// What was left after the supervisor stopped: each entry names one object.
struct leaks {
    std::vector<std::string> links, netns, mounts, processes, cgroups;
    std::vector<std::string> not_cleaned; // what loadtest itself could not remove afterwards
    bool clean() const;
};

struct percentiles {
    double p50 = 0, p99 = 0, max = 0;
};

struct result {
    // The run as set up.
    int containers = 0;
    int peers = 0;
    int pings_per_peer = 0;
    double duration_s = 0;
    std::string bridge, subnet;

    // Milliseconds after the supervisor was launched.
    std::optional<double> socket_ms;      // its control socket answered
    std::optional<double> all_running_ms; // the last container's started_at
    std::optional<double> peers_ok_ms;    // the last container had an answer from every peer
    std::optional<double> pings_done_ms;  // loadtest saw the last measured run end
    percentiles start_latency_ms;         // started_at minus launch, over the containers

    int running = 0;                 // containers that reached running
    std::vector<std::string> failed; // "name: state (error)"

    long sent = 0, received = 0;
    percentiles rtt_ms;

    std::optional<long> peak_rss_kib;
    std::optional<double> cpu_seconds; // over the supervisor's whole life, shutdown included
    std::optional<int> exit_code;
    std::optional<double> stop_ms; // SIGTERM to exit

    struct leaks leaks;
    // Present when the supervisor exited, gone by itself `lingered_ms` later (not leaks).
    std::vector<std::string> lingered;
    std::optional<double> lingered_ms;
    std::vector<std::string> errors; // every reason the run failed, the first one first
    int interrupted_by = 0;          // the signal that cut the run short, or 0
    std::string log_tail;            // the end of the supervisor's log when the run failed

    bool ok() const { return errors.empty(); }
};

nlohmann::json to_json(const result& r);
std::string to_text(const result& r);

} // namespace ctr::loadtest
