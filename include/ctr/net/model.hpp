// The network's vocabulary, shared by the pure parts (IPAM, names, the reconcile plan) and the
// one file that talks netlink. Nothing here touches the kernel.
//
// Desired state: per network, a bridge with the gateway address; per networked container, a veth
// pair whose host end sits on the bridge and whose container end is eth0 in the container's
// network namespace, with its address and a default route via the gateway.
// Observed state: the host's links as netlink reports them.
// plan(desired, observed) returns the operations that make the second match the first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ctr::net {

struct ipv4 {
    std::uint32_t value = 0; // host byte order
    auto operator<=>(const ipv4&) const = default;
};

// An address with its prefix length: 10.88.0.1/24 (a host address) or 10.88.0.0/24 (a subnet).
struct cidr {
    ipv4 address;
    int prefix = 0;
    auto operator<=>(const cidr&) const = default;
};

struct bridge_spec {
    std::string network; // [network NAME]
    std::string name;    // the bridge interface
    cidr gateway;        // gateway address with the subnet's prefix, set on the bridge
    unsigned mtu = 1500;
};

struct port_spec {
    std::string container; // the container's name
    std::string host_if;   // host end of its veth pair, on the bridge
    std::string bridge;
    cidr address; // the container's eth0 address, subnet prefix
    ipv4 gateway;
    unsigned mtu = 1500;
    int netns_fd = -1; // the container's network namespace (borrowed) while it runs
};

struct desired_state {
    std::vector<bridge_spec> bridges;
    std::vector<port_spec> ports;
    // Host interfaces whose names start with this were made by ctr-supervisor: one that is not
    // desired is a leftover, deleted. Interfaces without it are never touched.
    std::string owned_prefix;
};

struct link_state {
    std::string name;
    std::string kind; // "bridge", "veth", ... ("" when netlink gives none)
    int index = 0;
    int master = 0; // ifindex of its bridge, 0 for none
    bool up = false;
    unsigned mtu = 0;
    std::vector<cidr> addresses;
};

enum class op_kind {
    create_bridge, // link = bridge name, mtu
    add_address,   // link, address
    set_mtu,       // link, mtu
    set_up,        // link
    create_port,   // port: veth pair, container end configured inside its namespace
    set_master,    // link = host_if, master = bridge name
    delete_link,   // link
};

struct op {
    op_kind kind;
    std::string link;
    std::string master;
    cidr address{};
    unsigned mtu = 0;
    std::optional<port_spec> port;
};

std::string to_string(const op& o); // for logs: "create bridge ctr0 mtu 1500"

} // namespace ctr::net
