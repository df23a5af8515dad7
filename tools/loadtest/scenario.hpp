// What one load test run sets up: N replicas on one bridge of their own, each pinging a few
// others by name, and where their results land. Pure, apart from nothing: the host is asked
// elsewhere (host.hpp) which bridge name and subnet are free.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ctr::loadtest {

// Seconds between two pings of one measured run (busybox ping -i).
inline constexpr double ping_interval = 0.2;

struct options {
    int containers = 0;
    double duration = 5.0; // seconds each measured ping run lasts
    int peers = 2;         // how many other containers each one pings
    bool json = false;
    bool keep_going = false;      // carry on with the containers that run when some fail
    std::filesystem::path rootfs; // empty: the busybox image beside the build
};

// Pings per peer so that a run lasts about `duration` seconds; at least one.
int ping_count(double duration);

struct scenario {
    std::string tag;    // "lt" + 6 hex digits: the network's name and the replicas' base name
    std::string bridge; // "br" + tag, at most 15 characters
    std::string subnet; // a free "10.N.M.0/24" from 10.200.0.0/13
    int containers = 0;
    int peers = 0;
    int count = 0; // pings per peer
    std::filesystem::path dir;
    std::filesystem::path rootfs;

    std::filesystem::path config() const { return dir / "loadtest.ini"; }
    std::filesystem::path socket() const { return dir / "ctr.sock"; }
    std::filesystem::path state_dir() const { return dir / "state"; }
    std::filesystem::path log() const { return dir / "supervisor.log"; }
    // A running container's overlay upper dir: what it writes to its / shows up here.
    std::filesystem::path upper(const std::string& container) const;

    std::string name(int i) const; // replica i, 1-based: tag-i
    std::vector<std::string> names() const;
    // The containers replica i pings: the next `peers` ones, wrapping around.
    std::vector<std::string> peers_of(int i) const;
};

// Files a container writes into its root.
inline constexpr const char* peers_ok_file = "peers.ok";     // every peer answered once
inline constexpr const char* pings_done_file = "pings.done"; // the measured runs are over
std::string ping_log_file(const std::string& peer);          // one measured run's output

// The shell command of every replica: wait until each peer answers, then ping all of them at
// once, `count` times at ping_interval, then idle until SIGTERM (which ends it at once).
std::string container_command(const scenario& s);
std::string config_text(const scenario& s);

} // namespace ctr::loadtest
