#include "scenario.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace ctr::loadtest {

int ping_count(double duration) {
    return std::max(1, static_cast<int>(std::lround(duration / ping_interval)));
}

std::filesystem::path scenario::upper(const std::string& container) const {
    return state_dir() / "containers" / container / "upper";
}

std::string scenario::name(int i) const {
    return fmt::format("{}-{}", tag, i);
}

std::vector<std::string> scenario::names() const {
    std::vector<std::string> out;
    for (int i = 1; i <= containers; ++i)
        out.push_back(name(i));
    return out;
}

// Must agree with the shell arithmetic in container_command().
std::vector<std::string> scenario::peers_of(int i) const {
    std::vector<std::string> out;
    for (int k = 1; k <= peers; ++k)
        out.push_back(name((i + k - 1) % containers + 1));
    return out;
}

std::string ping_log_file(const std::string& peer) {
    return fmt::format("ping-{}.log", peer);
}

std::string container_command(const scenario& s) {
    // Replicas share one command; each finds its index in its name (HOSTNAME is tag-i).
    // Waiting until every peer answers first keeps start-up races out of the loss figures.
    // PID 1 ignores SIGTERM without a handler, hence the trap; `wait` returns to run it at once.
    return fmt::format(
        "sh -c 'trap \"exit 0\" TERM; n=${{HOSTNAME##*-}}; peers=; k=1; "
        "while [ $k -le {peers} ]; do peers=\"$peers {tag}-$(( (n + k - 1) % {n} + 1 ))\"; "
        "k=$((k + 1)); done; "
        "for p in $peers; do until ping -c 1 -W 1 $p >/dev/null 2>&1; do sleep 0.1; done; done; "
        "touch /{ok}; "
        "for p in $peers; do ping -i {interval} -c {count} -W 1 $p >/ping-$p.log 2>&1 & done; "
        "wait; touch /{done}; "
        "while true; do sleep 3600 & wait; done'",
        fmt::arg("peers", s.peers), fmt::arg("tag", s.tag), fmt::arg("n", s.containers),
        fmt::arg("ok", peers_ok_file), fmt::arg("interval", ping_interval),
        fmt::arg("count", s.count), fmt::arg("done", pings_done_file));
}

std::string config_text(const scenario& s) {
    return fmt::format("# Written by loadtest; removed with its folder when the run ends.\n"
                       "[supervisor]\n"
                       "socket = {socket}\n"
                       "state_dir = {state}\n"
                       "stop_timeout = 2s\n"
                       "\n"
                       "[network {tag}]\n"
                       "bridge = {bridge}\n"
                       "subnet = {subnet}\n"
                       "\n"
                       "[container {tag}]\n"
                       "rootfs = {rootfs}\n"
                       "network = {tag}\n"
                       "replicas = {n}\n"
                       "restart = no\n"
                       "command = {command}\n",
                       fmt::arg("socket", s.socket().string()),
                       fmt::arg("state", s.state_dir().string()), fmt::arg("tag", s.tag),
                       fmt::arg("bridge", s.bridge), fmt::arg("subnet", s.subnet),
                       fmt::arg("rootfs", s.rootfs.string()), fmt::arg("n", s.containers),
                       fmt::arg("command", container_command(s)));
}

} // namespace ctr::loadtest
