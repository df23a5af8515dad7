// Reconciliation as a pure function: what to do so the host's links match the desired state.
// The netlink side applies the operations in order; each is idempotent there, and plan() on the
// state that results is empty, so the same code path serves start-up, container start and exit,
// reload and repair.
#pragma once

#include <string>
#include <vector>

#include "ctr/net/model.hpp"

namespace ctr::net {

// Operations in this order:
// 1. per desired bridge, in desired order: missing → create_bridge, add_address (gateway),
//    set_up; present (adopted, never recreated) → add_address when the gateway address is
//    missing, set_mtu when the mtu differs, set_up when down. Other addresses are left alone.
// 2. per desired port: host_if missing → create_port (the host end comes up on its bridge);
//    present, owned but not a veth → delete_link then create_port; otherwise set_master when not on
//    its bridge, set_mtu when the mtu differs, set_up when down.
// 3. every observed link named with desired.owned_prefix that is neither a desired port nor a
//    desired bridge → delete_link, in observed order.
// Nothing else is touched: no operation ever names a link outside the desired bridges and ports
// and the owned prefix; an empty owned_prefix owns nothing. A desired bridge or port whose name
// is held by a link of the wrong kind that is not ours gets no operation (nor do the ports of
// such a bridge): see conflicts().
std::vector<op> plan(const desired_state& desired, const std::vector<link_state>& observed);

// Desired links plan() cannot make because a link that is not ctr-supervisor's holds the name,
// e.g. "bridge ctr0: the name is taken by a veth link"; the caller fails those networks.
std::vector<std::string> conflicts(const desired_state& desired,
                                   const std::vector<link_state>& observed);

} // namespace ctr::net
