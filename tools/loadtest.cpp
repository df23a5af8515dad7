// loadtest: runs N networked containers under ctr-supervisor, each pinging a few others by name,
// and reports how long they took to start, ping loss and round trips, what the supervisor cost,
// and whatever the run left behind. Exit codes: 0 pass; 1 a lost ping, a failed container, a
// leak or any other failure (each named in the report); 2 usage; 128+N interrupted by signal N.
#include "loadtest/run.hpp"
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

int main(int argc, char** argv) {
    using namespace ctr::loadtest;
    CLI::App app{"Runs N containers on one bridge under ctr-supervisor, each pinging others by "
                 "name, and reports start-up time, ping loss and RTT, the supervisor's RSS and "
                 "CPU, and a leak check after its shutdown.",
                 "loadtest"};
    options opt;
    app.add_option("-n,--containers", opt.containers, "Number of containers (replicas)")
        ->required()
        ->check(CLI::Range(2, 253)); // one /24, less the gateway
    app.add_option("--duration", opt.duration, "Seconds each container pings its peers")
        ->capture_default_str()
        ->check(CLI::Range(0.2, 3600.0));
    app.add_option("--peers", opt.peers, "Other containers each one pings (fewer than N)")
        ->capture_default_str()
        ->check(CLI::Range(1, 8));
    app.add_flag("--json", opt.json, "Print the report as one JSON object");
    app.add_flag("--keep-going", opt.keep_going,
                 "When containers fail, measure the others instead of stopping at once");
    app.add_option("--rootfs", opt.rootfs, "Busybox image (default: assets/rootfs/busybox)");
    try {
        app.parse(argc, argv);
        if (opt.peers >= opt.containers)
            throw CLI::ValidationError("--peers", "must be less than --containers");
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }

    install_signal_handlers();
    try {
        auto r = run(opt);
        if (opt.json) {
            fmt::print("{}\n", to_json(r).dump(2));
        } else {
            fmt::print("{}", to_text(r));
            if (!r.log_tail.empty())
                fmt::print(stderr, "end of ctr-supervisor's log:\n{}", r.log_tail);
        }
        if (r.interrupted_by) return 128 + r.interrupted_by;
        return r.ok() ? 0 : 1;
    } catch (const std::exception& e) {
        fmt::print(stderr, "loadtest: {}\n", e.what());
        return 1;
    }
}
