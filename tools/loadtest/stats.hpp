// Reading busybox ping's output and summing up samples. Pure.
#pragma once

#include <string_view>
#include <vector>

namespace ctr::loadtest {

// One `ping -c K HOST` run as busybox prints it:
//     64 bytes from 10.200.0.3: seq=0 ttl=64 time=0.101 ms
//     ...
//     5 packets transmitted, 5 packets received, 0% packet loss
struct ping_run {
    int sent = 0;
    int received = 0;
    std::vector<double> rtt_ms; // one per reply, duplicates left out
    bool complete = false;      // the statistics line was there: ping ended by itself
};
ping_run parse_ping_log(std::string_view text);

// Nearest-rank percentile (p in 0..100) of `values`; 0 when there are none.
double percentile(std::vector<double> values, double p);

} // namespace ctr::loadtest
