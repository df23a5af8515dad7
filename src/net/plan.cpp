#include "ctr/net/plan.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace ctr::net {
namespace {

const link_state* find_link(const std::vector<link_state>& links, std::string_view name) {
    auto it = std::find_if(links.begin(), links.end(),
                           [&](const link_state& l) { return l.name == name; });
    return it == links.end() ? nullptr : &*it;
}

// A link of the desired bridge's name that is not a bridge: someone else's NIC or veth, which
// plan neither adopts nor replaces.
bool blocked_bridge(const link_state* l) {
    return l && l->kind != "bridge";
}

// op's constructors: GCC's -Wmissing-field-initializers flags designated initializers that skip
// a field, so each kind spells out its own fields here once.
op link_op(op_kind kind, const std::string& link, unsigned mtu = 0) {
    return {kind, link, {}, {}, mtu, std::nullopt};
}
op address_op(const std::string& link, cidr address) {
    return {op_kind::add_address, link, {}, address, 0, std::nullopt};
}
op master_op(const std::string& link, const std::string& bridge) {
    return {op_kind::set_master, link, bridge, {}, 0, std::nullopt};
}
op create_port_op(const port_spec& p) {
    return {op_kind::create_port, p.host_if, p.bridge, p.address, p.mtu, p};
}

bool owned(const desired_state& d, std::string_view name) {
    return !d.owned_prefix.empty() && name.starts_with(d.owned_prefix);
}

// A port's name held by a link that is not a veth and not ours to replace.
bool blocked_port(const desired_state& d, const link_state* l) {
    return l && l->kind != "veth" && !owned(d, l->name);
}

void plan_bridge(const bridge_spec& b, const link_state* have, std::vector<op>& ops) {
    if (!have) {
        ops.push_back(link_op(op_kind::create_bridge, b.name, b.mtu));
        ops.push_back(address_op(b.name, b.gateway));
        ops.push_back(link_op(op_kind::set_up, b.name));
        return;
    }
    const auto& a = have->addresses;
    if (std::find(a.begin(), a.end(), b.gateway) == a.end())
        ops.push_back(address_op(b.name, b.gateway));
    if (have->mtu != b.mtu) ops.push_back(link_op(op_kind::set_mtu, b.name, b.mtu));
    if (!have->up) ops.push_back(link_op(op_kind::set_up, b.name));
}

void plan_port(const port_spec& p, const link_state* have, const std::vector<link_state>& observed,
               std::vector<op>& ops) {
    if (!have) return ops.push_back(create_port_op(p));
    // Ours by name (blocked_port() ruled out the rest), yet not a veth: replace it.
    if (have->kind != "veth") {
        ops.push_back(link_op(op_kind::delete_link, p.host_if));
        return ops.push_back(create_port_op(p));
    }
    // A bridge about to be created has no index yet, so no port can already be on it.
    const auto* bridge = find_link(observed, p.bridge);
    if (!bridge || have->master != bridge->index) ops.push_back(master_op(p.host_if, p.bridge));
    if (have->mtu != p.mtu) ops.push_back(link_op(op_kind::set_mtu, p.host_if, p.mtu));
    if (!have->up) ops.push_back(link_op(op_kind::set_up, p.host_if));
}

std::string_view kind_of(const link_state& l) {
    // Both sides as views: a std::string/const char* conditional would make a temporary string.
    return l.kind.empty() ? std::string_view("device") : std::string_view(l.kind);
}

bool wanted(const desired_state& d, std::string_view name) {
    return std::any_of(d.ports.begin(), d.ports.end(),
                       [&](const port_spec& p) { return p.host_if == name; }) ||
           std::any_of(d.bridges.begin(), d.bridges.end(),
                       [&](const bridge_spec& b) { return b.name == name; });
}

} // namespace

std::vector<op> plan(const desired_state& desired, const std::vector<link_state>& observed) {
    std::vector<op> ops;
    for (const auto& b : desired.bridges) {
        const auto* have = find_link(observed, b.name);
        if (!blocked_bridge(have)) plan_bridge(b, have, ops);
    }
    for (const auto& p : desired.ports) {
        const auto* have = find_link(observed, p.host_if);
        if (!blocked_bridge(find_link(observed, p.bridge)) && !blocked_port(desired, have))
            plan_port(p, have, observed, ops);
    }
    for (const auto& l : observed)
        if (owned(desired, l.name) && !wanted(desired, l.name))
            ops.push_back(link_op(op_kind::delete_link, l.name));
    return ops;
}

std::vector<std::string> conflicts(const desired_state& desired,
                                   const std::vector<link_state>& observed) {
    std::vector<std::string> out;
    for (const auto& b : desired.bridges)
        if (const auto* have = find_link(observed, b.name); blocked_bridge(have))
            out.push_back(fmt::format("bridge {} of network {}: the name is taken by a {} link",
                                      b.name, b.network, kind_of(*have)));
    for (const auto& p : desired.ports)
        if (const auto* have = find_link(observed, p.host_if); blocked_port(desired, have))
            out.push_back(fmt::format("port {} of container {}: the name is taken by a {} link",
                                      p.host_if, p.container, kind_of(*have)));
    return out;
}

} // namespace ctr::net
