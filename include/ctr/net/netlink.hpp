// The one place that talks to the kernel about links, addresses and routes (rtnetlink through
// libnl-3). Everything else speaks the vocabulary of model.hpp and never includes libnl.
//
// Errors: a refused request throws std::system_error whose message names the request and the
// object, e.g. `add address 10.88.0.1/24 to ctr0: No such device`; when the kernel explains
// itself (extended ack) its words are added: `create bridge x (kernel: ...): Invalid argument`.
// What idempotence wants is success, not an error: an address that is already there, a link
// that is already gone, a bridge that already exists as a bridge.
//
// A netlink object is bound to the network namespace it was created in for its whole life,
// whatever namespace the calling thread enters later. Not thread-safe: one per thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ctr/core/unique_fd.hpp"
#include "ctr/net/model.hpp"

namespace ctr::net {

class netlink {
  public:
    netlink(); // in the calling thread's current network namespace
    ~netlink();
    netlink(netlink&&) noexcept;
    netlink& operator=(netlink&&) noexcept;

    // A socket living in the network namespace `netns_fd` (borrowed): the calling thread enters
    // it, creates the socket and returns to where it was, also when creating fails. If it cannot
    // return, the process aborts: a thread left in a container's namespace would go on to build
    // the host's network inside that container.
    static netlink in_namespace(int netns_fd);

    // Every link of this namespace with its IPv4 addresses.
    std::vector<link_state> links();

    // Creates a bridge, down, without address. An existing bridge of that name is success; any
    // other link of that name is EEXIST. Its MAC is derived from its name: a bridge without an
    // explicit MAC takes the lowest MAC of its ports and changes it as ports come and go, and
    // the gateway's ARP entry in every container would go stale.
    void create_bridge(const std::string& name, unsigned mtu);
    // false when the address was there already.
    bool add_address(const std::string& link, cidr address);
    void set_up(const std::string& link);
    void set_mtu(const std::string& link, unsigned mtu);
    void set_master(const std::string& link, const std::string& bridge);
    // false when there was no such link. Deleting either end of a veth pair deletes both.
    bool delete_link(const std::string& link);
    // The non-throwing twin, for guards and destructors: 0 (also when already gone) or an errno.
    int try_delete_link(const std::string& link) noexcept;
    // Takes an address off a link: 0 (also when it or the link is gone already) or an errno.
    int try_delete_address(const std::string& link, cidr address) noexcept;

    // A veth pair made in one request: `host_if` here, up, on `bridge`, and its peer `eth0`
    // created directly inside p.netns_fd (IFLA_NET_NS_FD) with p.mtu and a MAC derived from the
    // bridge and container names (a restarted container keeps it, so its neighbours' ARP entries
    // stay right). Then, through a socket living in that namespace: eth0 up, p.address on eth0,
    // default route via p.gateway. A failure deletes the pair again. `lo` is left to the
    // container's own set-up (spawn/child.cpp brings it up after sync point 1, networked or not).
    void create_port(const port_spec& p);

  private:
    struct impl;
    explicit netlink(std::unique_ptr<impl> i);
    std::unique_ptr<impl> impl_;
};

// Executes one operation of a plan.
void apply(netlink& nl, const op& o);

// Link and IPv4 address changes in the current network namespace (RTNLGRP_LINK,
// RTNLGRP_IPV4_IFADDR) on a non-blocking, close-on-exec socket of its own. Wait until fd() is
// readable, then drain(). fd() stays owned here: hand Asio a dup made with F_DUPFD_CLOEXEC and
// only wait on it (async_wait), reading goes through drain().
class netlink_events {
  public:
    netlink_events();

    int fd() const noexcept { return fd_.get(); }
    // Reads everything pending without blocking. True when a link or an address was added,
    // changed or removed, or when the kernel dropped events because this socket fell behind
    // (ENOBUFS): either way, reconcile.
    bool drain();

  private:
    unique_fd fd_;
};

} // namespace ctr::net
