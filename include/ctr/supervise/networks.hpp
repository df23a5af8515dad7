// The supervisor's networks: desired state (a bridge per [network], a veth port per running
// member) reconciled against the kernel's actual state through one code path, at start-up, when a
// container starts or exits, and whenever netlink reports that someone changed a link or an
// address (repair). Addresses come from IPAM, persisted in the state dir.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <asio/awaitable.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "ctr/config/config.hpp"
#include "ctr/core/unique_fd.hpp"
#include "ctr/net/ipam.hpp"
#include "ctr/net/model.hpp"
#include "ctr/net/nat.hpp"
#include "ctr/net/netlink.hpp"

namespace ctr::supervise {

class networks {
  public:
    // Reads the persisted leases, leases an address for every networked container (one that
    // cannot get one is remembered and fails when it starts), and reconciles: bridges made or
    // adopted, what a crashed run left removed.
    networks(asio::any_io_executor ex, const config::config& cfg, std::filesystem::path dir);
    ~networks();
    networks(const networks&) = delete;
    networks& operator=(const networks&) = delete;

    bool empty() const { return nets_.empty(); }
    // Writes the container's /etc/hosts (every member of its network by name) into `hosts` and
    // returns true, or false when it has no network. Throws the container's lease error
    // ("subnet 10.88.0.0/28 exhausted").
    bool prepare(const config::container& c, const std::filesystem::path& hosts);
    // The container's first process waits at its first sync point: give it its port. Throws;
    // the caller's guard then kills the child.
    void attach(const std::string& container, pid_t pid);
    // It exited: its port left with its namespace; forget it.
    void detach(const std::string& container);

    std::optional<std::string> address_of(std::string_view container) const;
    nlohmann::json describe() const; // for `ctrctl net`

    // Repairs what someone else changed, within a debounce after netlink reports it.
    asio::awaitable<void> watch();
    // Makes the kernel match the desired state; `why` goes to the log.
    void reconcile(std::string_view why);
    // Shutdown has begun: the ports vanishing with their namespaces are not repaired. A repair
    // then would delete each dying namespace's host end one by one under RTNL (~1 ms each at
    // best), racing the kernel that removes them anyway, and close() removes what is left.
    void stop_repairs() { repairs_stopped_ = true; }

    // Reload. check() names what would stop `cfg`'s new bridges from being made (a link of ours
    // cannot be in the way; someone else's veth named like the bridge is), before anything
    // changes. update() runs once every container leaving or changing its network has stopped:
    // the bridges of removed and `rebuilt` networks go (an adopted one stays and loses the gateway
    // this supervisor added), the desired state becomes `cfg`'s
    // (leases of removed members released, a member staying on its network keeps its address)
    // and reconcile() makes it so; NAT follows. Then watch() may need starting (first network).
    std::vector<std::string> check(const config::config& cfg,
                                   const std::vector<std::string>& fresh);
    void update(const config::config& cfg, const std::vector<std::string>& rebuilt);
    // Members whose leased address `cfg` gives to another container as its static one: their
    // lease cannot stand, so they must be recreated even when their definition did not change.
    std::vector<std::string> displaced(const config::config& cfg) const;
    // The /etc/hosts text of a member (every member of its network by name), or nothing.
    std::optional<std::string> hosts_text(const config::container& c) const;
    // Shutdown, once every container stopped: ports and the bridges this supervisor made go, the
    // gateways it added to adopted bridges are taken off, leases are removed.
    void close();

  private:
    struct network_state {
        config::network cfg;
        net::cidr gateway; // gateway address with the subnet's prefix
        std::optional<net::ipam> ipam;
        bool bridge_made = false; // made by this supervisor (or a crashed run of it): removed at
                                  // shutdown; an adopted bridge stays
        // An adopted bridge that lacked the gateway: it is taken off again when the network goes
        // (shutdown, reload), so the bridge is left as it was found.
        bool gateway_added = false;
    };
    struct member {
        std::string network;
        std::string host_if;
        std::optional<net::ipv4> address;
        std::string lease_error;
        unique_fd netns; // while it runs
    };

    net::desired_state desired() const;
    // Leases an address for every member of every network, in config order, and saves them.
    void lease_all(const config::config& cfg);
    // Adopts an existing bridge of a network, or records that this supervisor makes it.
    void claim_bridges(const std::vector<net::link_state>& observed);
    // Records, before reconcile() adds it, whether the gateway is ours to take off the adopted
    // bridge; a gateway a crashed run added for an older subnet is taken off now.
    void adopt_gateway(const std::string& network, network_state& n, const net::link_state& bridge);
    // What this supervisor did to a network's bridge is undone: the bridge it made is deleted,
    // the gateway it added to an adopted one is taken off. `why` prefixes the log lines.
    void release_bridge(const std::string& network, network_state& n, std::string_view why);
    // One running member's port, as desired() has it.
    net::port_spec port_of(const std::string& container, const member& m) const;
    std::vector<net::link_state> relevant(std::vector<net::link_state> links) const;
    void save(const network_state& n) const;
    void await_ports_gone(std::chrono::milliseconds limit);
    std::filesystem::path lease_file(const std::string& network) const;
    std::filesystem::path bridge_file(const std::string& network) const;
    std::filesystem::path gateway_file(const std::string& network) const;

    std::filesystem::path dir_;
    std::map<std::string, network_state, std::less<>> nets_;
    std::map<std::string, member, std::less<>> members_;
    net::netlink nl_;
    std::optional<net::nat> nat_;
    std::optional<net::netlink_events> events_;
    asio::posix::stream_descriptor events_desc_;
    asio::steady_timer debounce_;
    bool closed_ = false;
    bool repairs_stopped_ = false;
    bool watching_ = false;
};

} // namespace ctr::supervise
