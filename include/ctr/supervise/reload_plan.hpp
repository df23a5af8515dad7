// What a reload changes, as pure functions of the running config and the newly loaded one. The
// supervisor makes the difference (supervisor::reload); start-up is the same plan from an empty
// running config, where everything is added.
//
// Containers and networks are matched by name. A network whose bridge, subnet, gateway, mtu or
// nat changed is rebuilt, and every container on it (before or after) is recreated with it, as is
// a container with any other key changed (docker compose's model). stop_timeout alone is the
// exception: it is only read when the container is next stopped, so it is updated in place.
#pragma once

#include <string>
#include <vector>

#include "ctr/config/config.hpp"

namespace ctr::supervise {

struct network_changes {
    std::vector<std::string> added, removed, rebuilt, unchanged;
    bool operator==(const network_changes&) const = default;
};

struct container_changes {
    std::vector<std::string> added;     // in the new file's order
    std::vector<std::string> removed;   // in the running config's order
    std::vector<std::string> recreated; // stopped, then started with the new definition
    std::vector<std::string> updated;   // stop_timeout only: applied in place, no restart
    std::vector<std::string> unchanged;
    bool operator==(const container_changes&) const = default;
};

struct reload_plan {
    network_changes networks;
    container_changes containers;
    // [supervisor] keys that differ but only take effect at the next start of the supervisor.
    std::vector<std::string> needs_restart;
    bool operator==(const reload_plan&) const = default;
};

// Keeps in `incoming` the running value of every [supervisor] key that cannot change while the
// supervisor runs, also where containers inherited it (their userns range), so the rest of the
// reload compares and applies what will really be in effect. `file_socket` is the socket the
// running config's file named (the running one may come from --socket or CTR_SOCKET). Returns
// the keys whose new value was set aside.
std::vector<std::string> keep_fixed_keys(const config::supervisor& running,
                                         const std::filesystem::path& file_socket,
                                         config::config& incoming);

// The differences between the running config and `incoming` (after keep_fixed_keys).
reload_plan plan_reload(const config::config& running, const config::config& incoming);

// Same definition, whatever line it was written on.
bool same_definition(const config::container& a, const config::container& b);
bool same_definition(const config::network& a, const config::network& b);

} // namespace ctr::supervise
