// Link and address events: a plain rtnetlink socket subscribed to two multicast groups. Only
// whether something changed matters (the reconciler then looks at the whole state), so the
// messages are counted, not parsed.
#include <array>
#include <cerrno>
#include <cstring>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "ctr/core/error.hpp"
#include "ctr/net/netlink.hpp"

namespace ctr::net {

netlink_events::netlink_events()
    : fd_(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE)) {
    if (!fd_) throw_errno("socket(AF_NETLINK, NETLINK_ROUTE)");
    // Creating a hundred containers sends a few thousand events at once; a larger buffer makes
    // ENOBUFS rarer (it is handled anyway). SO_RCVBUFFORCE needs CAP_NET_ADMIN, which we have.
    int size = 4 << 20;
    if (::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
        throw_errno("bind(rtnetlink event socket)");
    for (int group : {RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR})
        if (::setsockopt(fd_.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0)
            throw_errno("join rtnetlink group {}", group);
}

bool netlink_events::drain() {
    bool changed = false;
    alignas(nlmsghdr) std::array<char, 32768> buf;
    for (;;) {
        ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return changed;
            if (errno == ENOBUFS) { // events were lost: the state must be looked at again
                changed = true;
                continue;
            }
            throw_errno("recv(rtnetlink event socket)");
        }
        auto size = static_cast<std::size_t>(n);
        if (size > buf.size()) { // a datagram larger than the buffer: something happened
            changed = true;
            size = buf.size();
        }
        for (std::size_t off = 0; off + sizeof(nlmsghdr) <= size;) {
            nlmsghdr h;
            std::memcpy(&h, buf.data() + off, sizeof h);
            if (h.nlmsg_len < sizeof h || h.nlmsg_len > size - off) break;
            switch (h.nlmsg_type) {
            case RTM_NEWLINK:
            case RTM_DELLINK:
            case RTM_NEWADDR:
            case RTM_DELADDR:
                changed = true;
                break;
            default:
                break;
            }
            off += NLMSG_ALIGN(h.nlmsg_len);
        }
    }
}

} // namespace ctr::net
