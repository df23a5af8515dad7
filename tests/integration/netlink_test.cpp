// ctr::net::netlink against the real kernel, as root: a bridge, veth ports into network
// namespaces of the test's own, the view from inside them, a datagram each way between two of
// them over the bridge, events, errors and roll-back. Every name carries the test's pid, the
// subnet is the run's own, traffic never leaves the test's bridge, and guards remove every link
// and namespace also when a check fails.
#include <algorithm>
#include <arpa/inet.h>
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "ctr/core/error.hpp"
#include "ctr/core/scope_guard.hpp"
#include "ctr/core/unique_fd.hpp"
#include "ctr/net/cidr.hpp"
#include "ctr/net/netlink.hpp"

using namespace std::chrono_literals;
using ctr::unique_fd;
using namespace ctr::net;

// Needs root for namespaces and links, but not the busybox image CTR_REQUIRE_ROOT asks for.
#define NETLINK_REQUIRE_ROOT()                                                                     \
    do {                                                                                           \
        if (::geteuid() != 0) {                                                                    \
            MESSAGE("skipped: needs root (network namespaces, links)");                            \
            return;                                                                                \
        }                                                                                          \
    } while (0)

namespace {

// "nlt" + pid + role + number: at most 3 + 7 + 1 + 2 = 13 characters, unique to this run.
std::string our_prefix() {
    return fmt::format("nlt{}", ::getpid());
}
std::string link_name(char role, int i = -1) {
    return i < 0 ? fmt::format("{}{}", our_prefix(), role)
                 : fmt::format("{}{}{}", our_prefix(), role, i);
}

// This run's /24 in 10.201.0.0 - 10.250.255.0, away from the 10.88/16 of the lab configs.
ipv4 host(int n) {
    auto pid = static_cast<std::uint32_t>(::getpid());
    std::uint32_t second = 201 + (pid >> 8) % 50, third = pid & 0xff;
    return ipv4{(10u << 24) | (second << 16) | (third << 8) | static_cast<std::uint32_t>(n)};
}

sockaddr_in socket_address(ipv4 a, std::uint16_t port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(a.value);
    return sa;
}

std::optional<link_state> find_link(const std::vector<link_state>& links, const std::string& n) {
    auto it = std::find_if(links.begin(), links.end(), [&](auto& l) { return l.name == n; });
    return it == links.end() ? std::nullopt : std::optional(*it);
}

bool has_address(const link_state& l, cidr c) {
    return std::find(l.addresses.begin(), l.addresses.end(), c) != l.addresses.end();
}

// Host links whose name starts with this run's prefix.
std::vector<std::string> our_links() {
    std::vector<std::string> out;
    for (auto& l : netlink().links())
        if (l.name.rfind(our_prefix(), 0) == 0) out.push_back(l.name);
    return out;
}

// Waits until none of this run's links is left (a dying namespace takes its veth end along,
// asynchronously); what is still there after `limit`.
std::vector<std::string> wait_until_ours_gone(std::chrono::milliseconds limit = 5s) {
    auto until = std::chrono::steady_clock::now() + limit;
    auto left = our_links();
    while (!left.empty() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(10ms);
        left = our_links();
    }
    return left;
}

// A network namespace held only by an fd: a forked child unshares it and says so, the parent
// opens /proc/CHILD/ns/net, then kills and reaps the child. Closing the fd destroys it.
unique_fd make_netns() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) ctr::throw_errno("pipe2");
    unique_fd rd(p[0]), wr(p[1]);
    pid_t pid = ::fork();
    if (pid < 0) ctr::throw_errno("fork");
    if (pid == 0) {
        char c = ::unshare(CLONE_NEWNET) == 0 ? 'k' : 'e';
        if (::write(wr.get(), &c, 1) != 1) ::_exit(1);
        ::pause();
        ::_exit(0);
    }
    ctr::scope_guard reap([&] {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    });
    wr.reset();
    char c = 0;
    if (::read(rd.get(), &c, 1) != 1 || c != 'k') throw std::runtime_error("unshare(CLONE_NEWNET)");
    unique_fd ns(::open(fmt::format("/proc/{}/ns/net", pid).c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) ctr::throw_errno("open /proc/{}/ns/net", pid);
    return ns;
}

// A UDP socket living in `netns_fd`, made by entering it for the call only.
unique_fd udp_socket_in(int netns_fd) {
    unique_fd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!home) ctr::throw_errno("open /proc/thread-self/ns/net");
    if (::setns(netns_fd, CLONE_NEWNET) != 0) ctr::throw_errno("setns");
    unique_fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    int err = errno;
    if (::setns(home.get(), CLONE_NEWNET) != 0) std::abort();
    if (!s) ctr::throw_sys(err, "socket");
    return s;
}

// Receives one datagram within `limit`; "" when none came.
std::string receive(int fd, std::chrono::milliseconds limit = 3s) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return "";
    char buf[64];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
}

std::string read_line(const std::string& file) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    return line;
}

bool readable(int fd, std::chrono::milliseconds limit) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(limit.count())) == 1;
}

// Deletes the links it holds when it goes, also after a failed check; the namespaces declared
// before it close after it.
struct link_guard {
    std::vector<std::string> names;
    void add(std::string n) { names.push_back(std::move(n)); }
    ~link_guard() {
        try {
            netlink nl;
            for (auto it = names.rbegin(); it != names.rend(); ++it)
                nl.try_delete_link(*it);
        } catch (...) {
        }
    }
};

port_spec port(const std::string& bridge, int i, int netns_fd) {
    port_spec p;
    p.container = fmt::format("c{}", i);
    p.host_if = link_name('h', i);
    p.bridge = bridge;
    p.address = cidr{host(10 + i), 24};
    p.gateway = host(1);
    p.mtu = 1500;
    p.netns_fd = netns_fd;
    return p;
}

template <typename F> std::system_error system_error_of(F&& f) {
    try {
        f();
    } catch (const std::system_error& e) {
        return e;
    }
    FAIL("no std::system_error");
    return std::system_error(0, std::generic_category());
}

} // namespace

TEST_CASE("netlink: a bridge and two ports; namespaces see eth0 up and reach each other") {
    NETLINK_REQUIRE_ROOT();
    {
        std::vector<unique_fd> namespaces;
        link_guard guard;
        netlink nl;
        auto br = link_name('b');
        guard.add(br);
        cidr gateway{host(1), 24};

        nl.create_bridge(br, 1500);
        nl.create_bridge(br, 1500); // already a bridge: success
        CHECK(nl.add_address(br, gateway));
        CHECK_FALSE(nl.add_address(br, gateway)); // already there: success, says so
        nl.set_up(br);
        auto seen = find_link(nl.links(), br);
        REQUIRE(seen);
        CHECK(seen->kind == "bridge");
        CHECK(seen->up);
        CHECK(seen->mtu == 1500);
        CHECK(has_address(*seen, gateway));
        auto bridge_mac = read_line(fmt::format("/sys/class/net/{}/address", br));
        CHECK(bridge_mac.size() == 17);

        for (int i = 0; i < 2; ++i) {
            namespaces.push_back(make_netns());
            guard.add(link_name('h', i));
            nl.create_port(port(br, i, namespaces.back().get()));
        }
        // Setting links up changed IFF_UP only (libnl's own requests would clear IFF_MULTICAST).
        for (auto& n : {br, link_name('h', 0)})
            CHECK((std::stoul(read_line(fmt::format("/sys/class/net/{}/flags", n)), nullptr, 16) &
                   0x1000) != 0);
        // Its MAC was set, so it does not follow the lowest MAC of its ports.
        CHECK(read_line(fmt::format("/sys/class/net/{}/address", br)) == bridge_mac);
        auto host_links = nl.links();
        for (int i = 0; i < 2; ++i) {
            CAPTURE(i);
            auto h = find_link(host_links, link_name('h', i));
            REQUIRE(h);
            CHECK(h->kind == "veth");
            CHECK(h->up);
            CHECK(h->master == seen->index);

            auto inside = netlink::in_namespace(namespaces[static_cast<std::size_t>(i)].get());
            auto links = inside.links();
            CHECK(links.size() == 2); // lo and eth0, nothing else
            // lo is the container's own set-up (spawn/child.cpp), done once, not here again.
            auto lo = find_link(links, "lo");
            REQUIRE(lo);
            CHECK_FALSE(lo->up);
            auto eth0 = find_link(links, "eth0");
            REQUIRE(eth0);
            CHECK(eth0->kind == "veth");
            CHECK(eth0->up);
            CHECK(eth0->mtu == 1500);
            CHECK(has_address(*eth0, cidr{host(10 + i), 24}));
        }

        {
            auto a = udp_socket_in(namespaces[0].get());
            auto b = udp_socket_in(namespaces[1].get());
            // The default route via the gateway: connecting a datagram socket to an address
            // off the subnet only looks the route up (nothing is sent) and picks eth0's address.
            auto off_net = socket_address(ipv4{0xc6336407}, 9); // 198.51.100.7
            REQUIRE(::connect(a.get(), reinterpret_cast<sockaddr*>(&off_net), sizeof off_net) == 0);
            sockaddr_in self{};
            socklen_t len = sizeof self;
            REQUIRE(::getsockname(a.get(), reinterpret_cast<sockaddr*>(&self), &len) == 0);
            CHECK(ntohl(self.sin_addr.s_addr) == host(10).value);
            sockaddr_in unset{};
            unset.sin_family = AF_UNSPEC; // dissolve the association again
            ::connect(a.get(), reinterpret_cast<sockaddr*>(&unset), sizeof unset);

            // One datagram each way between the two namespaces, over the bridge.
            auto a_addr = socket_address(host(10), 4000);
            auto b_addr = socket_address(host(11), 4000);
            REQUIRE(::bind(a.get(), reinterpret_cast<sockaddr*>(&a_addr), sizeof a_addr) == 0);
            REQUIRE(::bind(b.get(), reinterpret_cast<sockaddr*>(&b_addr), sizeof b_addr) == 0);
            REQUIRE(::sendto(a.get(), "ping", 4, 0, reinterpret_cast<sockaddr*>(&b_addr),
                             sizeof b_addr) == 4);
            CHECK(receive(b.get()) == "ping");
            REQUIRE(::sendto(b.get(), "pong", 4, 0, reinterpret_cast<sockaddr*>(&a_addr),
                             sizeof a_addr) == 4);
            CHECK(receive(a.get()) == "pong");
        }

        // Deleting the host end deletes the pair: eth0 is gone from inside too.
        CHECK(nl.delete_link(link_name('h', 0)));
        CHECK_FALSE(nl.delete_link(link_name('h', 0))); // already gone: success, says so
        CHECK(nl.try_delete_link(link_name('h', 0)) == 0);
        CHECK_FALSE(find_link(netlink::in_namespace(namespaces[0].get()).links(), "eth0"));

        // A namespace that dies takes its end of the pair along, and so the host end.
        namespaces[1].reset();
        auto until = std::chrono::steady_clock::now() + 5s;
        while (find_link(nl.links(), link_name('h', 1)) && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(10ms);
        CHECK_FALSE(find_link(nl.links(), link_name('h', 1)));
    }
    CHECK(wait_until_ours_gone().empty());
}

TEST_CASE("netlink: errors name the call and the object; a failed port leaves nothing behind") {
    NETLINK_REQUIRE_ROOT();
    {
        std::vector<unique_fd> namespaces;
        link_guard guard;
        netlink nl;
        auto br = link_name('b');
        auto missing = link_name('m');
        guard.add(br);

        auto e = system_error_of([&] { nl.add_address(missing, cidr{host(1), 24}); });
        CHECK(e.code().value() == ENODEV);
        CHECK(std::string(e.what()) ==
              fmt::format("add address {}/24 to {}: look up {}: No such device", to_string(host(1)),
                          missing, missing));
        CHECK(system_error_of([&] { nl.set_up(missing); }).code().value() == ENODEV);
        CHECK(system_error_of([&] { nl.set_mtu(missing, 1400); }).code().value() == ENODEV);
        CHECK_FALSE(nl.delete_link(missing));
        CHECK(nl.try_delete_link(missing) == 0);
        CHECK_THROWS_AS(nl.create_bridge("x23456789012345678", 1500), ctr::error);

        nl.create_bridge(br, 1500);
        nl.add_address(br, cidr{host(1), 24});
        nl.set_up(br);
        CHECK(system_error_of([&] { nl.set_master(br, missing); }).code().value() == ENODEV);
        nl.set_mtu(br, 1400);
        CHECK(find_link(nl.links(), br)->mtu == 1400);

        namespaces.push_back(make_netns());
        int ns = namespaces.back().get();
        guard.add(link_name('h', 0));
        nl.create_port(port(br, 0, ns));
        // A link of another kind under the bridge's name.
        e = system_error_of([&] { nl.create_bridge(link_name('h', 0), 1500); });
        CHECK(e.code().value() == EEXIST);
        CHECK(std::string(e.what()).find("a veth of that name exists") != std::string::npos);
        // eth0 exists in there already: the one request fails whole, the host end is not made.
        auto again = port(br, 1, ns);
        guard.add(again.host_if);
        CHECK(system_error_of([&] { nl.create_port(again); }).code().value() == EEXIST);
        CHECK_FALSE(find_link(nl.links(), again.host_if));
        CHECK(nl.delete_link(link_name('h', 0)));

        // The pair is made, then the route fails inside (a gateway off eth0's subnet): the pair
        // is deleted again, on both sides.
        auto bad = port(br, 2, ns);
        bad.gateway = ipv4{0xc6336401}; // 198.51.100.1
        guard.add(bad.host_if);
        e = system_error_of([&] { nl.create_port(bad); });
        MESSAGE("a failed port: " << std::string(e.what()));
        CHECK(std::string(e.what()).find("add default route via 198.51.100.1") !=
              std::string::npos);
        CHECK_FALSE(find_link(nl.links(), bad.host_if));
        CHECK_FALSE(find_link(netlink::in_namespace(ns).links(), "eth0"));

        CHECK_THROWS_AS(nl.create_port(port(br, 3, -1)), ctr::error);
    }
    CHECK(wait_until_ours_gone().empty());
}

TEST_CASE("netlink: events report links and addresses that come and go") {
    NETLINK_REQUIRE_ROOT();
    // In a namespace of its own, so that nobody else's links make noise.
    auto ns = make_netns();
    std::optional<netlink_events> events;
    {
        unique_fd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
        REQUIRE(home);
        REQUIRE(::setns(ns.get(), CLONE_NEWNET) == 0);
        ctr::scope_guard back([&] {
            if (::setns(home.get(), CLONE_NEWNET) != 0) std::abort();
        });
        events.emplace();
    }
    int fd = events->fd();
    CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    CHECK_FALSE(events->drain());

    auto inside = netlink::in_namespace(ns.get());
    inside.create_bridge("evbr", 1500);
    CHECK(readable(fd, 1s));
    CHECK(events->drain());
    CHECK_FALSE(events->drain());
    inside.add_address("evbr", cidr{host(1), 24});
    CHECK(readable(fd, 1s));
    CHECK(events->drain());
    inside.set_up("evbr");
    CHECK(readable(fd, 1s));
    CHECK(events->drain());
    inside.delete_link("evbr");
    CHECK(readable(fd, 1s));
    CHECK(events->drain());
    CHECK_FALSE(events->drain());
}

TEST_CASE("netlink: create_port timing for 20 ports") {
    NETLINK_REQUIRE_ROOT();
    constexpr int n = 20, half = n / 2;
    {
        std::vector<unique_fd> namespaces;
        link_guard guard;
        netlink nl;
        auto br = link_name('b');
        guard.add(br);
        nl.create_bridge(br, 1500);
        nl.add_address(br, cidr{host(1), 24});
        nl.set_up(br);
        for (int i = 0; i < n; ++i) {
            namespaces.push_back(make_netns());
            guard.add(link_name('h', i));
        }
        auto ns = [&](int i) { return namespaces[static_cast<std::size_t>(i)].get(); };

        using clock = std::chrono::steady_clock;
        auto micros = [](clock::duration d) {
            return std::chrono::duration<double, std::micro>(d).count();
        };
        auto t0 = clock::now();
        for (int i = 0; i < n; ++i)
            netlink::in_namespace(ns(i));
        auto t1 = clock::now();
        std::vector<double> each;
        for (int i = 0; i < n; ++i) {
            auto start = clock::now();
            nl.create_port(port(br, i, ns(i)));
            each.push_back(micros(clock::now() - start));
        }
        auto t2 = clock::now();
        std::sort(each.begin(), each.end());
        auto links = nl.links();
        auto t3 = clock::now();
        int ports = 0;
        for (auto& l : links)
            if (l.master == find_link(links, br)->index) ++ports;
        CHECK(ports == n);

        // Half deleted one by one, the other half by letting their namespaces die.
        for (int i = 0; i < half; ++i)
            CHECK(nl.delete_link(link_name('h', i)));
        auto t4 = clock::now();
        for (int i = half; i < n; ++i)
            namespaces[static_cast<std::size_t>(i)].reset();
        auto left = [&] {
            int count = 0;
            for (auto& l : nl.links())
                if (l.master == find_link(links, br)->index) ++count;
            return count;
        };
        while (left() > 0 && clock::now() - t4 < 10s)
            std::this_thread::sleep_for(1ms);
        auto t5 = clock::now();
        CHECK(left() == 0);

        // Other tests changing links at the same time hold the kernel's rtnl lock (a deletion
        // holds it for ~20 ms), hence the median and the minimum beside the mean.
        MESSAGE(
            fmt::format("create_port over {} ports: mean {:.0f} us, median {:.0f} us, min {:.0f} "
                        "us, max {:.0f} us (opening a socket inside a namespace: ~{:.0f} us); "
                        "links() with {} links: {:.0f} us; delete_link: {:.0f} us per port; "
                        "{} namespaces closed at once: their host ends gone after {:.0f} us",
                        n, micros(t2 - t1) / n, each[each.size() / 2], each.front(), each.back(),
                        micros(t1 - t0) / n, links.size(), micros(t3 - t2), micros(t4 - t3) / half,
                        n - half, micros(t5 - t4)));
    }
    CHECK(wait_until_ours_gone().empty());
}
