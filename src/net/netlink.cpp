// rtnetlink through libnl-3. Link requests are built here with libnl's message API rather than
// with rtnl_link_add/rtnl_link_change: those send ifi_change = 0, and the kernel then takes
// ifi_flags as the whole new set of flags, so "set up" would also clear IFF_MULTICAST. Addresses,
// routes and the link dump go through libnl-route's objects.
#include "ctr/net/netlink.hpp"

#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <map>
#include <new>
#include <optional>
#include <sched.h>
#include <string_view>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include "ctr/core/error.hpp"
#include "ctr/core/inet.hpp"
#include "ctr/core/scope_guard.hpp"
#include "ctr/core/unique_fd.hpp"
#include "ctr/net/cidr.hpp"
#include "ctr/net/names.hpp"

namespace ctr::net {

namespace {

struct sock_free {
    void operator()(nl_sock* s) const noexcept { nl_socket_free(s); }
};
struct msg_free {
    void operator()(nl_msg* m) const noexcept { nlmsg_free(m); }
};
struct cache_free {
    void operator()(nl_cache* c) const noexcept { nl_cache_free(c); }
};
struct addr_put {
    void operator()(nl_addr* a) const noexcept { nl_addr_put(a); }
};
struct object_put {
    void operator()(void* o) const noexcept { nl_object_put(static_cast<nl_object*>(o)); }
};
using addr_ptr = std::unique_ptr<nl_addr, addr_put>;
using cache_ptr = std::unique_ptr<nl_cache, cache_free>;
template <typename T> using object_ptr = std::unique_ptr<T, object_put>;

addr_ptr make_addr(ipv4 a, int prefix) {
    std::uint32_t be = htonl(a.value);
    addr_ptr out{nl_addr_build(AF_INET, &be, sizeof be)};
    if (!out) throw std::bad_alloc();
    nl_addr_set_prefixlen(out.get(), prefix);
    return out;
}

// A locally administered unicast MAC from a name: the same name, the same MAC.
std::array<std::uint8_t, 6> derived_mac(std::string_view key) {
    auto h = fnv1a64(key);
    std::array<std::uint8_t, 6> mac{};
    for (std::size_t i = 0; i < mac.size(); ++i)
        mac[i] = static_cast<std::uint8_t>(h >> (40 - 8 * i));
    mac[0] = static_cast<std::uint8_t>((mac[0] & 0xfe) | 0x02); // local, unicast
    return mac;
}

// The errno behind one of libnl's own codes, where there is one.
int errno_of(int nl_error) {
    switch (nl_error < 0 ? -nl_error : nl_error) {
    case NLE_EXIST:
        return EEXIST;
    case NLE_NODEV:
        return ENODEV;
    case NLE_OBJ_NOTFOUND:
        return ENOENT;
    case NLE_PERM:
        return EPERM;
    case NLE_NOACCESS:
        return EACCES;
    case NLE_INVAL:
        return EINVAL;
    case NLE_BUSY:
        return EBUSY;
    case NLE_RANGE:
        return ERANGE;
    case NLE_NOMEM:
        return ENOMEM;
    case NLE_AGAIN:
        return EAGAIN;
    case NLE_INTR:
        return EINTR;
    case NLE_BAD_SOCK:
        return EBADF;
    case NLE_NOADDR:
        return EADDRNOTAVAIL;
    case NLE_OPNOTSUPP:
        return EOPNOTSUPP;
    case NLE_AF_NOSUPPORT:
        return EAFNOSUPPORT;
    case NLE_MSGSIZE:
        return EMSGSIZE;
    default:
        return 0;
    }
}

void check_name(const std::string& name, const std::string& what) {
    if (auto why = inet::invalid_ifname_reason(name)) fail("{}: {}", what, *why);
}

// One request under construction. libnl only fails to append when the message outgrows its
// buffer (a page), which these small requests never do: that is a bug, not a runtime error.
class message {
  public:
    message(int type, int flags) : msg_(nlmsg_alloc_simple(type, flags)) {
        if (!msg_) throw std::bad_alloc();
    }
    template <typename T> void append(const T& header) {
        ok(nlmsg_append(msg_.get(), const_cast<T*>(&header), sizeof header, NLMSG_ALIGNTO));
    }
    void put(int attr, const std::string& s) { ok(nla_put_string(msg_.get(), attr, s.c_str())); }
    void put(int attr, std::uint32_t v) { ok(nla_put_u32(msg_.get(), attr, v)); }
    void put(int attr, const std::array<std::uint8_t, 6>& mac) {
        ok(nla_put(msg_.get(), attr, static_cast<int>(mac.size()), mac.data()));
    }
    nlattr* nest(int attr) {
        nlattr* n = nla_nest_start(msg_.get(), attr);
        if (!n) ok(-NLE_MSGSIZE);
        return n;
    }
    void end(nlattr* n) { ok(nla_nest_end(msg_.get(), n)); }
    nl_msg* release() noexcept { return msg_.release(); }

  private:
    static void ok(int rc) {
        if (rc < 0) throw std::logic_error(fmt::format("netlink message: {}", nl_geterror(rc)));
    }
    std::unique_ptr<nl_msg, msg_free> msg_;
};

ifinfomsg link_header(unsigned flags = 0, unsigned change = 0) {
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_flags = flags;
    ifi.ifi_change = change;
    return ifi;
}

// Returns to the network namespace the thread was in when it was made; see in_namespace.
class netns_return {
  public:
    netns_return() : home_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
        if (!home_) throw_errno("open(\"/proc/thread-self/ns/net\")");
    }
    netns_return(const netns_return&) = delete;
    netns_return& operator=(const netns_return&) = delete;
    ~netns_return() {
        if (entered_ && ::setns(home_.get(), CLONE_NEWNET) != 0) std::abort();
    }
    void enter(int netns_fd) {
        if (::setns(netns_fd, CLONE_NEWNET) != 0)
            throw_errno("setns(netns fd {}, CLONE_NEWNET)", netns_fd);
        entered_ = true;
    }

  private:
    unique_fd home_;
    bool entered_ = false;
};

} // namespace

struct netlink::impl {
    std::unique_ptr<nl_sock, sock_free> sock;
    // What the kernel answered to the last request. libnl folds errnos into codes of its own
    // (ENOENT and ESRCH both become "object not found", ENETUNREACH "unspecific failure"), so
    // the error callback keeps the kernel's errno and its extended ack text.
    int kernel_errno = 0;
    std::array<char, 256> kernel_text{};
    int last_rc = 0;

    impl() : sock(nl_socket_alloc()) {
        if (!sock) throw std::bad_alloc();
        nl_socket_modify_err_cb(sock.get(), NL_CB_CUSTOM, &impl::on_error, this);
        // Peeking lets libnl size its buffer before reading; without it a long dump is cut.
        nl_socket_enable_msg_peek(sock.get());
        if (int rc = nl_connect(sock.get(), NETLINK_ROUTE); rc < 0) {
            int err = errno_of(rc);
            throw_sys(err ? err : EPROTO, "connect rtnetlink socket");
        }
        int fd = nl_socket_get_fd(sock.get());
        // libnl 3.7 opens it with SOCK_CLOEXEC already; older ones did not (a no-op here).
        if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) throw_errno("fcntl(netlink socket, FD_CLOEXEC)");
        int one = 1;
        // Best effort: the kernel's reasons in errors, without an echo of our request.
        ::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
        ::setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    }
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    static int on_error(sockaddr_nl*, nlmsgerr* e, void* arg) noexcept {
        auto* self = static_cast<impl*>(arg);
        self->kernel_errno = -e->error;
        // The nlmsgerr sits right after its header, inside libnl's receive buffer.
        auto* h = reinterpret_cast<nlmsghdr*>(reinterpret_cast<char*>(e) - NLMSG_HDRLEN);
        if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return NL_STOP;
        std::size_t off = NLMSG_HDRLEN + sizeof(nlmsgerr);
        if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - NLMSG_HDRLEN;
        if (off >= h->nlmsg_len) return NL_STOP;
        std::array<nlattr*, NLMSGERR_ATTR_MAX + 1> tb{};
        auto* attrs = reinterpret_cast<nlattr*>(reinterpret_cast<char*>(h) + off);
        if (nla_parse(tb.data(), NLMSGERR_ATTR_MAX, attrs, static_cast<int>(h->nlmsg_len - off),
                      nullptr) == 0 &&
            tb[NLMSGERR_ATTR_MSG])
            nla_strlcpy(self->kernel_text.data(), tb[NLMSGERR_ATTR_MSG], self->kernel_text.size());
        return NL_STOP;
    }

    // Runs one libnl request: 0, or the errno it failed with.
    template <typename F> int run(F&& request) noexcept {
        kernel_errno = 0;
        kernel_text[0] = '\0';
        last_rc = request();
        if (last_rc >= 0) return 0;
        if (kernel_errno != 0) return kernel_errno;
        int err = errno_of(last_rc);
        return err ? err : EPROTO;
    }
    int send(message& m) noexcept {
        return run([&] { return nl_send_sync(sock.get(), m.release()); });
    }

    // Throws for the last request, which failed with `err`.
    [[noreturn]] void raise(int err, const std::string& what) const {
        std::string context = what;
        if (kernel_text[0] != '\0') context += fmt::format(" (kernel: {})", kernel_text.data());
        if (kernel_errno == 0 && errno_of(last_rc) == 0)
            throw error(fmt::format("{}: {}", context, nl_geterror(last_rc)));
        throw_sys(err, context);
    }

    object_ptr<rtnl_link> find(const std::string& name, int& err) {
        rtnl_link* l = nullptr;
        err = run([&] { return rtnl_link_get_kernel(sock.get(), 0, name.c_str(), &l); });
        return object_ptr<rtnl_link>(l);
    }
    int index_of(const std::string& name, const std::string& what) {
        check_name(name, what);
        int err = 0;
        auto l = find(name, err);
        if (err) raise(err, fmt::format("{}: look up {}", what, name));
        return rtnl_link_get_ifindex(l.get());
    }

    // Changes an existing link found by name: RTM_NEWLINK without NLM_F_CREATE.
    void change(const std::string& name, const std::string& what, unsigned flags, unsigned change,
                std::optional<std::uint32_t> mtu, std::optional<std::uint32_t> master) {
        check_name(name, what);
        message m(RTM_NEWLINK, 0);
        m.append(link_header(flags, change));
        m.put(IFLA_IFNAME, name);
        if (mtu) m.put(IFLA_MTU, *mtu);
        if (master) m.put(IFLA_MASTER, *master);
        if (int err = send(m)) raise(err, what);
    }

    int delete_link(const std::string& name) noexcept {
        if (!fits_ifname(name)) return EINVAL;
        nl_msg* m = nlmsg_alloc_simple(RTM_DELLINK, 0);
        if (!m) return ENOMEM;
        ifinfomsg ifi = link_header();
        if (nlmsg_append(m, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
            nla_put_string(m, IFLA_IFNAME, name.c_str()) < 0) {
            nlmsg_free(m);
            return EMSGSIZE;
        }
        return run([&] { return nl_send_sync(sock.get(), m); });
    }

    bool add_address(int ifindex, cidr address, const std::string& what) {
        object_ptr<rtnl_addr> a{rtnl_addr_alloc()};
        if (!a) throw std::bad_alloc();
        rtnl_addr_set_ifindex(a.get(), ifindex);
        rtnl_addr_set_family(a.get(), AF_INET);
        auto local = make_addr(address.address, address.prefix);
        if (int rc = rtnl_addr_set_local(a.get(), local.get()); rc < 0)
            throw error(fmt::format("{}: {}", what, nl_geterror(rc)));
        rtnl_addr_set_prefixlen(a.get(), address.prefix);
        if (address.prefix < 31) {
            std::uint32_t host_bits = address.prefix <= 0 ? ~0u : (~0u >> address.prefix);
            auto brd = make_addr(ipv4{address.address.value | host_bits}, address.prefix);
            rtnl_addr_set_broadcast(a.get(), brd.get());
        }
        int err = run([&] { return rtnl_addr_add(sock.get(), a.get(), NLM_F_EXCL); });
        if (err == EEXIST) return false;
        if (err) raise(err, what);
        return true;
    }

    int delete_address(const std::string& link, cidr address) noexcept {
        if (!fits_ifname(link)) return EINVAL;
        int err = 0;
        auto l = find(link, err);
        if (err) return err;
        object_ptr<rtnl_addr> a{rtnl_addr_alloc()};
        if (!a) return ENOMEM;
        rtnl_addr_set_ifindex(a.get(), rtnl_link_get_ifindex(l.get()));
        rtnl_addr_set_family(a.get(), AF_INET);
        try {
            // The address object takes its own reference to `local`.
            auto local = make_addr(address.address, address.prefix);
            if (rtnl_addr_set_local(a.get(), local.get()) < 0) return EINVAL;
        } catch (const std::bad_alloc&) {
            return ENOMEM;
        }
        rtnl_addr_set_prefixlen(a.get(), address.prefix);
        return run([&] { return rtnl_addr_delete(sock.get(), a.get(), 0); });
    }

    void add_default_route(int ifindex, ipv4 gateway, const std::string& what) {
        object_ptr<rtnl_route> r{rtnl_route_alloc()};
        if (!r) throw std::bad_alloc();
        rtnl_route_set_family(r.get(), AF_INET);
        rtnl_route_set_table(r.get(), RT_TABLE_MAIN);
        rtnl_route_set_protocol(r.get(), RTPROT_BOOT);
        rtnl_route_set_scope(r.get(), RT_SCOPE_UNIVERSE);
        rtnl_route_set_type(r.get(), RTN_UNICAST);
        auto dst = make_addr(ipv4{0}, 0);
        rtnl_route_set_dst(r.get(), dst.get());
        rtnl_nexthop* nh = rtnl_route_nh_alloc();
        if (!nh) throw std::bad_alloc();
        auto gw = make_addr(gateway, 32);
        rtnl_route_nh_set_ifindex(nh, ifindex);
        rtnl_route_nh_set_gateway(nh, gw.get());
        rtnl_route_add_nexthop(r.get(), nh); // the route owns it now
        int err = run([&] { return rtnl_route_add(sock.get(), r.get(), NLM_F_EXCL); });
        if (err && err != EEXIST) raise(err, what);
    }
};

netlink::netlink() : impl_(std::make_unique<impl>()) {}
netlink::netlink(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
netlink::~netlink() = default;
netlink::netlink(netlink&&) noexcept = default;
netlink& netlink::operator=(netlink&&) noexcept = default;

netlink netlink::in_namespace(int netns_fd) {
    netns_return back;
    back.enter(netns_fd);
    // The socket is made, and so bound to this namespace, before `back` returns the thread.
    return netlink(std::make_unique<impl>());
}

std::vector<link_state> netlink::links() {
    nl_cache* raw = nullptr;
    if (int err =
            impl_->run([&] { return rtnl_link_alloc_cache(impl_->sock.get(), AF_UNSPEC, &raw); }))
        impl_->raise(err, "list links");
    cache_ptr link_cache{raw};
    raw = nullptr;
    if (int err = impl_->run([&] { return rtnl_addr_alloc_cache(impl_->sock.get(), &raw); }))
        impl_->raise(err, "list addresses");
    cache_ptr addr_cache{raw};

    std::vector<link_state> out;
    std::map<int, std::size_t> by_index;
    for (nl_object* o = nl_cache_get_first(link_cache.get()); o; o = nl_cache_get_next(o)) {
        auto* l = reinterpret_cast<rtnl_link*>(o);
        link_state s;
        if (const char* name = rtnl_link_get_name(l)) s.name = name;
        if (const char* kind = rtnl_link_get_type(l)) s.kind = kind;
        s.index = rtnl_link_get_ifindex(l);
        s.master = rtnl_link_get_master(l);
        s.up = (rtnl_link_get_flags(l) & IFF_UP) != 0;
        s.mtu = rtnl_link_get_mtu(l);
        by_index[s.index] = out.size();
        out.push_back(std::move(s));
    }
    for (nl_object* o = nl_cache_get_first(addr_cache.get()); o; o = nl_cache_get_next(o)) {
        auto* a = reinterpret_cast<rtnl_addr*>(o);
        if (rtnl_addr_get_family(a) != AF_INET) continue;
        auto it = by_index.find(rtnl_addr_get_ifindex(a));
        nl_addr* local = rtnl_addr_get_local(a);
        if (it == by_index.end() || !local || nl_addr_get_len(local) != 4) continue;
        std::uint32_t be = 0;
        std::memcpy(&be, nl_addr_get_binary_addr(local), sizeof be);
        out[it->second].addresses.push_back(cidr{ipv4{ntohl(be)}, rtnl_addr_get_prefixlen(a)});
    }
    return out;
}

void netlink::create_bridge(const std::string& name, unsigned mtu) {
    auto what = fmt::format("create bridge {} mtu {}", name, mtu);
    check_name(name, what);
    message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    m.append(link_header());
    m.put(IFLA_IFNAME, name);
    m.put(IFLA_MTU, std::uint32_t{mtu});
    m.put(IFLA_ADDRESS, derived_mac("bridge " + name));
    nlattr* info = m.nest(IFLA_LINKINFO);
    m.put(IFLA_INFO_KIND, std::string("bridge"));
    m.end(info);
    int err = impl_->send(m);
    if (err == EEXIST) {
        int lookup = 0;
        auto existing = impl_->find(name, lookup);
        const char* kind = existing ? rtnl_link_get_type(existing.get()) : nullptr;
        if (kind && std::string_view(kind) == "bridge") return;
        throw_sys(EEXIST, fmt::format("{} (a {} of that name exists)", what,
                                      kind && *kind ? kind : "link"));
    }
    if (err) impl_->raise(err, what);
}

bool netlink::add_address(const std::string& link, cidr address) {
    auto what = fmt::format("add address {} to {}", to_string(address), link);
    return impl_->add_address(impl_->index_of(link, what), address, what);
}

void netlink::set_up(const std::string& link) {
    impl_->change(link, fmt::format("set {} up", link), IFF_UP, IFF_UP, {}, {});
}

void netlink::set_mtu(const std::string& link, unsigned mtu) {
    impl_->change(link, fmt::format("set mtu {} on {}", mtu, link), 0, 0, mtu, {});
}

void netlink::set_master(const std::string& link, const std::string& bridge) {
    auto what = fmt::format("set master of {} to {}", link, bridge);
    auto index = static_cast<std::uint32_t>(impl_->index_of(bridge, what));
    impl_->change(link, what, 0, 0, {}, index);
}

bool netlink::delete_link(const std::string& link) {
    auto what = fmt::format("delete link {}", link);
    check_name(link, what);
    int err = impl_->delete_link(link);
    if (err == ENODEV) return false;
    if (err) impl_->raise(err, what);
    return true;
}

int netlink::try_delete_link(const std::string& link) noexcept {
    int err = impl_->delete_link(link);
    return err == ENODEV ? 0 : err;
}

int netlink::try_delete_address(const std::string& link, cidr address) noexcept {
    int err = impl_->delete_address(link, address);
    return err == ENODEV || err == EADDRNOTAVAIL ? 0 : err;
}

void netlink::create_port(const port_spec& p) {
    auto what = fmt::format("create port {} on {} for {}", p.host_if, p.bridge, p.container);
    check_name(p.host_if, what);
    if (p.netns_fd < 0) fail("{}: no network namespace", what);
    auto master = static_cast<std::uint32_t>(impl_->index_of(p.bridge, what));

    // Both ends in one request; the peer is born in the container's namespace, which is much
    // cheaper than creating it here and moving it.
    message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    m.append(link_header(IFF_UP, IFF_UP));
    m.put(IFLA_IFNAME, p.host_if);
    m.put(IFLA_MTU, std::uint32_t{p.mtu});
    m.put(IFLA_MASTER, master);
    // One queue each way, from birth. Left out, a veth gets one per possible CPU and veth_newlink
    // then cuts each end down to one, which waits for an RCU grace period under RTNL: ~1 ms a
    // port, serialised across every start.
    m.put(IFLA_NUM_TX_QUEUES, std::uint32_t{1});
    m.put(IFLA_NUM_RX_QUEUES, std::uint32_t{1});
    nlattr* info = m.nest(IFLA_LINKINFO);
    m.put(IFLA_INFO_KIND, std::string("veth"));
    nlattr* data = m.nest(IFLA_INFO_DATA);
    nlattr* peer = m.nest(VETH_INFO_PEER);
    // Down: the kernel configures the peer before it links the pair, and opening a veth without
    // its peer fails with ENOTCONN. It is set up from inside below.
    m.append(link_header());
    m.put(IFLA_IFNAME, std::string("eth0"));
    m.put(IFLA_MTU, std::uint32_t{p.mtu});
    m.put(IFLA_ADDRESS, derived_mac("port " + p.bridge + " " + p.container));
    m.put(IFLA_NUM_TX_QUEUES, std::uint32_t{1});
    m.put(IFLA_NUM_RX_QUEUES, std::uint32_t{1});
    m.put(IFLA_NET_NS_FD, static_cast<std::uint32_t>(p.netns_fd));
    m.end(peer);
    m.end(data);
    m.end(info);
    if (int err = impl_->send(m)) impl_->raise(err, what);
    scope_guard undo([&] { try_delete_link(p.host_if); });

    // The rest happens inside: the socket lives in the container's namespace.
    auto inside = in_namespace(p.netns_fd);
    inside.impl_->change("eth0", what + ": set eth0 up", IFF_UP, IFF_UP, {}, {});
    int eth0 = inside.impl_->index_of("eth0", what);
    inside.impl_->add_address(
        eth0, p.address, fmt::format("{}: add address {} to eth0", what, to_string(p.address)));
    inside.impl_->add_default_route(
        eth0, p.gateway, fmt::format("{}: add default route via {}", what, to_string(p.gateway)));
    undo.dismiss();
}

void apply(netlink& nl, const op& o) {
    switch (o.kind) {
    case op_kind::create_bridge:
        nl.create_bridge(o.link, o.mtu);
        return;
    case op_kind::add_address:
        nl.add_address(o.link, o.address);
        return;
    case op_kind::set_mtu:
        nl.set_mtu(o.link, o.mtu);
        return;
    case op_kind::set_up:
        nl.set_up(o.link);
        return;
    case op_kind::create_port:
        if (!o.port) fail("create port {}: the operation carries no port", o.link);
        nl.create_port(*o.port);
        return;
    case op_kind::set_master:
        nl.set_master(o.link, o.master);
        return;
    case op_kind::delete_link:
        nl.delete_link(o.link);
        return;
    }
    fail("apply: unknown operation {}", static_cast<int>(o.kind));
}

} // namespace ctr::net
