#include "ctr/supervise/reload_plan.hpp"

#include <algorithm>
#include <set>

namespace ctr::supervise {

bool same_definition(const config::container& a, const config::container& b) {
    auto x = a, y = b;
    x.line = y.line = 0;
    return x == y;
}

bool same_definition(const config::network& a, const config::network& b) {
    auto x = a, y = b;
    x.line = y.line = 0;
    return x == y;
}

std::vector<std::string> keep_fixed_keys(const config::supervisor& running,
                                         const std::filesystem::path& file_socket,
                                         config::config& incoming) {
    std::vector<std::string> changed;
    auto& in = incoming.sup;
    auto keep = [&](auto& field, const auto& value, const char* key) {
        if (field == value) return;
        changed.emplace_back(key);
        field = value;
    };
    // The lock, the leases, the cgroups' parent and every container's overlay live under it.
    keep(in.state_dir, running.state_dir, "state_dir");
    // The listening socket is bound once; moving it would strand every client that knows it.
    // --socket and CTR_SOCKET outrank the file, so only a change of the file's own value counts.
    if (in.socket != file_socket) changed.emplace_back("socket");
    in.socket = running.socket;
    // Applied to the socket file when it is made.
    keep(in.socket_group, running.socket_group, "socket_group");
    // Each container's log file is open in its hub from the supervisor's start.
    keep(in.log_dir, running.log_dir, "log_dir");
    // One id-mapped image is shared by every userns container: two ranges at once would give
    // their files two owners. The running range stays, also in the definitions that inherit it.
    if (in.userns != running.userns) {
        if (in.userns.base != running.userns.base) changed.emplace_back("userns_base");
        if (in.userns.size != running.userns.size) changed.emplace_back("userns_size");
        in.userns = running.userns;
        for (auto& c : incoming.containers)
            if (c.userns) c.userns = running.userns;
    }
    return changed;
}

namespace {
template <typename T> const T* named(const std::vector<T>& list, const std::string& name) {
    auto it = std::find_if(list.begin(), list.end(), [&](const T& x) { return x.name == name; });
    return it == list.end() ? nullptr : &*it;
}

bool differs_only_in_stop_timeout(const config::container& a, const config::container& b) {
    auto x = a;
    x.stop_timeout = b.stop_timeout;
    return same_definition(x, b);
}
} // namespace

reload_plan plan_reload(const config::config& running, const config::config& incoming) {
    reload_plan p;
    std::set<std::string, std::less<>> rebuilt;
    for (auto& n : incoming.networks) {
        auto* old = named(running.networks, n.name);
        if (!old) {
            p.networks.added.push_back(n.name);
        } else if (same_definition(*old, n)) {
            p.networks.unchanged.push_back(n.name);
        } else {
            p.networks.rebuilt.push_back(n.name);
            rebuilt.insert(n.name);
        }
    }
    for (auto& n : running.networks)
        if (!named(incoming.networks, n.name)) p.networks.removed.push_back(n.name);

    for (auto& c : incoming.containers) {
        auto* old = named(running.containers, c.name);
        if (!old) {
            p.containers.added.push_back(c.name);
        } else if (rebuilt.contains(c.network) || rebuilt.contains(old->network)) {
            p.containers.recreated.push_back(c.name);
        } else if (same_definition(*old, c)) {
            p.containers.unchanged.push_back(c.name);
        } else if (differs_only_in_stop_timeout(*old, c)) {
            p.containers.updated.push_back(c.name);
        } else {
            p.containers.recreated.push_back(c.name);
        }
    }
    for (auto& c : running.containers)
        if (!named(incoming.containers, c.name)) p.containers.removed.push_back(c.name);
    return p;
}

} // namespace ctr::supervise
