// Address management for one network. Static addresses (`ip = A.B.C.D` in config) are reserved
// up front; every other container leases the lowest free address of the subnet, skipping the
// network, broadcast and gateway addresses, and keeps it across its restarts until released.
//
// Pure: the supervisor persists to_json() atomically in its state dir and hands the text back to
// from_json() at start-up, so a restarted supervisor neither reuses nor forgets a lease.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctr/net/model.hpp"

namespace ctr::net {

// What IPAM needs to know of a network, taken from its config.
struct address_pool {
    std::string network;                              // [network NAME], for messages
    cidr subnet;                                      // 10.88.0.0/24
    ipv4 gateway;                                     // on the bridge, never leased
    std::map<std::string, ipv4, std::less<>> statics; // container -> its static address
};

class ipam {
  public:
    using lease_map = std::map<std::string, ipv4, std::less<>>;

    // Throws ctr::error when a static address is outside the subnet, is its network, broadcast or
    // gateway address, or is given to two containers. Config refuses all of these with the line;
    // the check here keeps the invariant "no address has two owners" local to this class.
    explicit ipam(address_pool pool);

    // The container's address: its static one, the one it already leases, or else the lowest free
    // address, which it then leases. Throws ctr::error "subnet 10.88.0.0/28 exhausted".
    ipv4 lease(std::string_view container);

    // Frees the container's lease. Nothing happens to a static address, or to a container
    // without a lease.
    void release(std::string_view container);

    // Drops the leases of containers not in `names` (the network's containers in the current
    // config); returns the dropped names, for the log.
    std::vector<std::string> retain(const std::vector<std::string>& names);

    // Its static address or lease, without leasing one.
    std::optional<ipv4> address_of(std::string_view container) const;

    const lease_map& leases() const { return leases_; } // dynamic ones only
    const address_pool& pool() const { return pool_; }

    // {"version":1,"network":"lab","subnet":"10.88.0.0/24","leases":{"web-1":"10.88.0.2"}}.
    // Static addresses are not written: they come from the config of the next run.
    std::string to_json() const;

    // Rebuilds from to_json() under a possibly changed config. A lease that cannot stand any more
    // is dropped with a line in `dropped` (when given): its container now has a static address,
    // or its address left the subnet, became the gateway or another container's static address.
    // Throws ctr::error when the text is not such a document at all.
    static ipam from_json(std::string_view text, address_pool pool,
                          std::vector<std::string>* dropped = nullptr);

  private:
    // Why `a` cannot be given to a container ("is the gateway"), or nothing.
    std::optional<std::string> refusal(ipv4 a) const;
    std::optional<ipv4> lowest_free() const;

    address_pool pool_;
    lease_map leases_;
    std::map<std::uint32_t, std::string> owners_; // address -> container, statics and leases
};

} // namespace ctr::net
