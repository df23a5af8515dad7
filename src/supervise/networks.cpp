// One reconcile path (net::plan over desired() and the observed links, then net::apply) runs at
// start-up, on reload (after update() made the new config the desired state) and on repair. A
// container's start and exit do not go through it, on purpose:
// - start: attach() creates the member's port with netlink::create_port from port_of(), the same
//   spec desired() would give plan(). Going through plan() would need the observed state first:
//   a dump of every link and address, O(members) per start and so O(N^2) for N starts (the
//   100-container start-up target is 3 ms per container, and a dump of 200 links with their
//   addresses is a good part of that). Worse, plan() cannot tell a live port from the host end
//   a dying namespace still holds (link_state does not know where a veth's peer is): it would
//   keep that stale end and set it up instead of replacing it; attach() knows the member has just
//   been born, so any host end of its name is stale and is replaced.
// - exit: detach() only drops the namespace fd. The kernel deletes both veth ends with the
//   namespace; deleting them ourselves first costs ~20 ms a port, and a plan would find nothing
//   to do anyway once the namespace is gone (and a port still there is removed by the next
//   reconcile, as an owned link nobody wants).
// The repair watch sees what a start or an exit changed and reconciles after its debounce, so
// the two paths never disagree for long: both derive from port_of().
#include "ctr/supervise/networks.hpp"

#include <fcntl.h>
#include <poll.h>

#include <asio/use_awaitable.hpp>

#include "ctr/core/error.hpp"
#include "ctr/core/log.hpp"
#include "ctr/core/scope_guard.hpp"
#include "ctr/net/cidr.hpp"
#include "ctr/net/names.hpp"
#include "ctr/net/plan.hpp"
#include "ctr/sys/files.hpp"

namespace ctr::supervise {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
constexpr auto debounce = 50ms;
const char* subject = "network";

bool is_errno(const std::system_error& e, int err) {
    return e.code() == std::error_code(err, std::generic_category()) ||
           e.code() == std::error_code(err, std::system_category());
}
} // namespace

networks::networks(asio::any_io_executor ex, const config::config& cfg, fs::path dir)
    : dir_(std::move(dir)), events_desc_(ex), debounce_(ex) {
    for (auto& n : cfg.networks) {
        auto subnet = net::parse_subnet(n.subnet);
        auto gw = net::parse_ipv4(n.gateway);
        nets_.emplace(n.name, network_state{n, {gw, subnet.prefix}, std::nullopt, false, false});
    }
    if (nets_.empty()) return;
    sys::make_dirs(dir_, 0700);
    lease_all(cfg);
    auto observed = nl_.links();
    if (auto bad = net::conflicts(desired(), observed); !bad.empty()) fail("{}", bad.front());
    claim_bridges(observed);
    reconcile("start-up");
    // Without a `nat = true` network nftables is left alone, unless a crashed run of ours left
    // rules there: remove() undoes exactly what apply() recorded.
    nat_.emplace(dir_);
    std::vector<net::nat_network> masqueraded;
    for (auto& [name, n] : nets_)
        if (n.cfg.nat) masqueraded.push_back({name, n.cfg.subnet, n.cfg.bridge});
    if (masqueraded.empty()) {
        nat_->remove();
    } else {
        nat_->apply(masqueraded);
        log::info(subject, "masquerading {} network(s) in nftables table ip {}", masqueraded.size(),
                  nat_->table());
    }
    events_.emplace();
    events_desc_.assign(::fcntl(events_->fd(), F_DUPFD_CLOEXEC, 3));
}

networks::~networks() = default;

void networks::lease_all(const config::config& cfg) {
    // Who is on which network, with which static address.
    std::map<std::string, net::address_pool, std::less<>> pools;
    for (auto& [name, n] : nets_)
        pools[name] = net::address_pool{
            name, net::parse_subnet(n.cfg.subnet), net::parse_ipv4(n.cfg.gateway), {}};
    std::map<std::string, std::vector<std::string>, std::less<>> names;
    std::map<std::string, member, std::less<>> next;
    for (auto& c : cfg.containers) {
        if (c.network.empty()) continue;
        auto& m = next[c.name] = member{c.network, net::host_ifname(c.network, c.name), {}, {}, {}};
        // A member still on its network keeps its port (a reload left it running).
        if (auto old = members_.find(c.name);
            old != members_.end() && old->second.network == c.network)
            m.netns = std::move(old->second.netns);
        names[c.network].push_back(c.name);
        if (!c.ip.empty() && c.ip != "auto")
            pools[c.network].statics[c.name] = net::parse_ipv4(c.ip);
    }
    members_ = std::move(next);

    for (auto& [name, n] : nets_) {
        // A reload carries the leases over from memory; start-up from the file.
        auto saved = n.ipam ? std::optional(n.ipam->to_json()) : sys::read_file(lease_file(name));
        std::vector<std::string> dropped;
        n.ipam =
            saved ? net::ipam::from_json(*saved, pools[name], &dropped) : net::ipam(pools[name]);
        for (auto& d : n.ipam->retain(names[name]))
            dropped.push_back("lease of " + d);
        for (auto& d : dropped)
            log::info(subject, "{}: dropped {}", name, d);
        // Every member leases now, in config order, so addresses and /etc/hosts are stable
        // from the first start; one that finds the subnet full fails alone, when it starts.
        for (auto& m : names[name]) {
            try {
                members_[m].address = n.ipam->lease(m);
            } catch (const std::exception& e) {
                members_[m].lease_error = e.what();
                log::error(m, "{}", e.what());
            }
        }
        save(n);
    }
}

void networks::claim_bridges(const std::vector<net::link_state>& observed) {
    for (auto& [name, n] : nets_) {
        if (n.bridge_made) continue;
        n.bridge_made = fs::exists(bridge_file(name));
        auto bridge = std::find_if(observed.begin(), observed.end(),
                                   [&](auto& l) { return l.name == n.cfg.bridge; });
        bool exists = bridge != observed.end();
        if (exists && !n.bridge_made) {
            log::info(subject, "{}: adopting existing bridge {}", name, n.cfg.bridge);
            adopt_gateway(name, n, *bridge);
        } else if (!exists) {
            // Recorded before it exists, so a crash right after still knows it is ours.
            sys::write_file_atomic(bridge_file(name), n.cfg.bridge);
            n.bridge_made = true;
        }
    }
}

void networks::adopt_gateway(const std::string& network, network_state& n,
                             const net::link_state& bridge) {
    auto file = gateway_file(network);
    if (auto recorded = sys::read_file(file)) {
        std::optional<net::cidr> added;
        try {
            added = net::parse_cidr(*recorded);
        } catch (const std::exception& e) {
            // Not ours to guess at: the bridge keeps whatever it has.
            log::warn(subject, "{}: ignoring {}: {}", network, file.string(), e.what());
        }
        if (added == n.gateway) {
            n.gateway_added = true;
            return;
        }
        if (added) {
            if (int err = nl_.try_delete_address(n.cfg.bridge, *added))
                log::error(subject, "{}: take {} off {}: {}", network, *recorded, n.cfg.bridge,
                           std::strerror(err));
            else
                log::info(subject, "{}: took {} (a previous run's gateway) off {}", network,
                          *recorded, n.cfg.bridge);
        }
        std::error_code ec;
        fs::remove(file, ec);
    }
    auto& have = bridge.addresses;
    if (std::find(have.begin(), have.end(), n.gateway) != have.end()) return;
    // Recorded before reconcile() adds it, so a crash right after still knows it is ours.
    sys::write_file_atomic(file, net::to_string(n.gateway));
    n.gateway_added = true;
}

void networks::release_bridge(const std::string& network, network_state& n, std::string_view why) {
    std::error_code ec;
    if (n.bridge_made) {
        if (int err = nl_.try_delete_link(n.cfg.bridge))
            log::error(subject, "{}delete bridge {}: {}", why, n.cfg.bridge, std::strerror(err));
        else
            log::info(subject, "{}{}: deleted bridge {}", why, network, n.cfg.bridge);
        fs::remove(bridge_file(network), ec);
    } else if (n.gateway_added) {
        auto gw = net::to_string(n.gateway);
        if (int err = nl_.try_delete_address(n.cfg.bridge, n.gateway))
            log::error(subject, "{}take {} off {}: {}", why, gw, n.cfg.bridge, std::strerror(err));
        else
            log::info(subject, "{}{}: took {} off bridge {}", why, network, gw, n.cfg.bridge);
        fs::remove(gateway_file(network), ec);
    }
}

std::vector<std::string> networks::check(const config::config& cfg,
                                         const std::vector<std::string>& fresh) {
    net::desired_state want;
    want.owned_prefix = std::string(net::owned_prefix);
    for (auto& n : cfg.networks) {
        if (std::find(fresh.begin(), fresh.end(), n.name) == fresh.end()) continue;
        auto subnet = net::parse_subnet(n.subnet);
        want.bridges.push_back(
            {n.name, n.bridge, {net::parse_ipv4(n.gateway), subnet.prefix}, n.mtu});
    }
    if (want.bridges.empty()) return {};
    return net::conflicts(want, nl_.links());
}

void networks::update(const config::config& cfg, const std::vector<std::string>& rebuilt) {
    if (closed_) return;
    auto wanted = [&](const std::string& name) {
        return std::any_of(cfg.networks.begin(), cfg.networks.end(),
                           [&](auto& n) { return n.name == name; });
    };
    // Their members are stopped: the namespaces took their ports, so the bridge goes alone. Not
    // through plan(), which never deletes a bridge (its name carries no owned prefix).
    for (auto it = nets_.begin(); it != nets_.end();) {
        auto& [name, n] = *it;
        bool gone = !wanted(name);
        if (!gone && std::find(rebuilt.begin(), rebuilt.end(), name) == rebuilt.end()) {
            ++it;
            continue;
        }
        release_bridge(name, n, "reload: ");
        if (gone) {
            std::error_code ec;
            fs::remove(lease_file(name), ec);
        }
        it = nets_.erase(it);
    }
    for (auto& n : cfg.networks) {
        if (nets_.contains(n.name)) continue;
        auto subnet = net::parse_subnet(n.subnet);
        nets_.emplace(
            n.name,
            network_state{
                n, {net::parse_ipv4(n.gateway), subnet.prefix}, std::nullopt, false, false});
    }
    if (!nets_.empty()) sys::make_dirs(dir_, 0700);
    lease_all(cfg);
    claim_bridges(nl_.links());
    reconcile("reload");

    if (!nat_ && !nets_.empty()) nat_.emplace(dir_);
    if (nat_) {
        std::vector<net::nat_network> masqueraded;
        for (auto& [name, n] : nets_)
            if (n.cfg.nat) masqueraded.push_back({name, n.cfg.subnet, n.cfg.bridge});
        if (masqueraded.empty())
            nat_->remove();
        else
            nat_->apply(masqueraded);
    }
    if (!events_ && !nets_.empty()) {
        events_.emplace();
        events_desc_.assign(::fcntl(events_->fd(), F_DUPFD_CLOEXEC, 3));
    }
}

std::vector<std::string> networks::displaced(const config::config& cfg) const {
    std::map<std::pair<std::string, std::uint32_t>, std::string> statics;
    for (auto& c : cfg.containers)
        if (!c.network.empty() && !c.ip.empty() && c.ip != "auto")
            statics[{c.network, net::parse_ipv4(c.ip).value}] = c.name;
    std::vector<std::string> out;
    for (auto& [name, m] : members_) {
        if (!m.address) continue;
        auto it = statics.find({m.network, m.address->value});
        if (it != statics.end() && it->second != name) out.push_back(name);
    }
    return out;
}

std::optional<std::string> networks::hosts_text(const config::container& c) const {
    auto it = members_.find(c.name);
    if (it == members_.end()) return std::nullopt;
    auto& m = it->second;
    std::string text = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    for (auto& [name, other] : members_) {
        if (other.network != m.network || !other.address) continue;
        text += net::to_string(*other.address) + "\t" + name;
        if (name == c.name && !c.hostname.empty() && c.hostname != c.name) text += " " + c.hostname;
        text += "\n";
    }
    return text;
}

fs::path networks::lease_file(const std::string& network) const {
    return dir_ / (network + ".leases.json");
}
fs::path networks::bridge_file(const std::string& network) const {
    return dir_ / (network + ".bridge");
}
fs::path networks::gateway_file(const std::string& network) const {
    return dir_ / (network + ".gateway");
}

void networks::save(const network_state& n) const {
    sys::write_file_atomic(lease_file(n.cfg.name), n.ipam->to_json());
}

net::desired_state networks::desired() const {
    net::desired_state d;
    d.owned_prefix = std::string(net::owned_prefix);
    for (auto& [name, n] : nets_)
        d.bridges.push_back({name, n.cfg.bridge, n.gateway, n.cfg.mtu});
    for (auto& [name, m] : members_)
        if (m.netns && m.address) d.ports.push_back(port_of(name, m));
    return d;
}

net::port_spec networks::port_of(const std::string& container, const member& m) const {
    auto& n = nets_.find(m.network)->second;
    return {container,         m.host_if, n.cfg.bridge, {*m.address, n.gateway.prefix},
            n.gateway.address, n.cfg.mtu, m.netns.get()};
}

// Only what is ours is visible to the plan: our bridges, and ports that are on them or carry a
// member's name. Another supervisor's ports (same prefix, other bridge) are never touched.
std::vector<net::link_state> networks::relevant(std::vector<net::link_state> links) const {
    std::vector<int> bridges;
    for (auto& l : links)
        for (auto& [name, n] : nets_)
            if (l.name == n.cfg.bridge) bridges.push_back(l.index);
    std::erase_if(links, [&](const net::link_state& l) {
        bool bridge = std::any_of(nets_.begin(), nets_.end(),
                                  [&](auto& n) { return n.second.cfg.bridge == l.name; });
        bool on_ours = std::find(bridges.begin(), bridges.end(), l.master) != bridges.end();
        bool member_port = std::any_of(members_.begin(), members_.end(),
                                       [&](auto& m) { return m.second.host_if == l.name; });
        return !(bridge || on_ours || member_port);
    });
    return links;
}

void networks::reconcile(std::string_view why) {
    if (nets_.empty() || closed_) return;
    auto ops = net::plan(desired(), relevant(nl_.links()));
    for (auto& o : ops) {
        try {
            net::apply(nl_, o);
            log::info(subject, "{}: {}", why, net::to_string(o));
        } catch (const std::exception& e) {
            log::error(subject, "{}: {} failed: {}", why, net::to_string(o), e.what());
        }
    }
}

bool networks::prepare(const config::container& c, const fs::path& hosts) {
    auto it = members_.find(c.name);
    if (it == members_.end()) return false;
    if (!it->second.lease_error.empty()) fail("{}", it->second.lease_error);
    auto text = *hosts_text(c);
    // Rewritten at every start, and only containers of this run read it: no fsync.
    sys::replace_file(hosts, text);
    return true;
}

void networks::attach(const std::string& container, pid_t pid) {
    auto it = members_.find(container);
    if (it == members_.end()) return;
    auto& m = it->second;
    if (!m.address) fail("container {} has no address on network {}", container, m.network);
    m.netns = sys::open_file(fmt::format("/proc/{}/ns/net", pid), O_RDONLY);
    try {
        auto port = port_of(container, m);
        try {
            nl_.create_port(port);
        } catch (const std::system_error& e) {
            // The previous run's namespace may still be dying with our host end in it.
            if (!is_errno(e, EEXIST)) throw;
            nl_.try_delete_link(m.host_if);
            nl_.create_port(port);
        }
    } catch (...) {
        m.netns.reset();
        throw;
    }
}

void networks::detach(const std::string& container) {
    if (auto it = members_.find(container); it != members_.end()) it->second.netns.reset();
}

std::optional<std::string> networks::address_of(std::string_view container) const {
    auto it = members_.find(container);
    if (it == members_.end() || !it->second.address) return std::nullopt;
    return net::to_string(*it->second.address);
}

nlohmann::json networks::describe() const {
    auto out = nlohmann::json::array();
    for (auto& [name, n] : nets_) {
        auto members = nlohmann::json::array();
        for (auto& [cname, m] : members_) {
            if (m.network != name) continue;
            members.push_back({{"name", cname},
                               {"ip", m.address ? nlohmann::json(net::to_string(*m.address))
                                                : nlohmann::json(nullptr)},
                               {"interface", m.host_if},
                               {"attached", static_cast<bool>(m.netns)},
                               {"error", m.lease_error.empty() ? nlohmann::json(nullptr)
                                                               : nlohmann::json(m.lease_error)}});
        }
        out.push_back({{"name", name},
                       {"bridge", n.cfg.bridge},
                       {"subnet", n.cfg.subnet},
                       {"gateway", n.cfg.gateway},
                       {"mtu", n.cfg.mtu},
                       {"nat", n.cfg.nat},
                       {"nat_table", n.cfg.nat && nat_ ? nlohmann::json(nat_->table())
                                                       : nlohmann::json(nullptr)},
                       {"containers", std::move(members)}});
    }
    return out;
}

asio::awaitable<void> networks::watch() {
    if (!events_ || watching_) co_return;
    watching_ = true;
    // Reset however the watch ends, so a reload may start it again.
    scope_guard unwatch([this] { watching_ = false; });
    while (!closed_) {
        co_await events_desc_.async_wait(asio::posix::stream_descriptor::wait_read,
                                         asio::use_awaitable);
        if (!events_->drain()) continue;
        // One reconcile per burst: a deleted bridge takes its ports' events with it.
        debounce_.expires_after(debounce);
        co_await debounce_.async_wait(asio::use_awaitable);
        events_->drain();
        if (!repairs_stopped_) reconcile("repair");
    }
}

// A dying namespace takes its veth with it, but the kernel tears namespaces down asynchronously:
// wait on link events (bounded) until our host ends are gone, then delete what still stands. Only
// at shutdown, when nothing else is left to do on the loop.
void networks::await_ports_gone(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    std::vector<std::string> left;
    for (;;) {
        left.clear();
        for (auto& l : nl_.links())
            if (std::any_of(members_.begin(), members_.end(),
                            [&](auto& m) { return m.second.host_if == l.name; }))
                left.push_back(l.name);
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.empty() || wait.count() <= 0 || !events_) break;
        pollfd p{events_->fd(), POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(wait.count()));
        events_->drain();
    }
    for (auto& l : left) {
        log::info(subject, "deleting port {} its namespace left behind", l);
        nl_.try_delete_link(l);
    }
}

void networks::close() {
    if (closed_ || (nets_.empty() && !nat_)) return;
    closed_ = true;
    std::error_code ec;
    events_desc_.close(ec);
    debounce_.cancel();
    for (auto& [name, m] : members_) {
        if (m.netns) nl_.try_delete_link(m.host_if);
        m.netns.reset();
    }
    if (nat_) nat_->remove();
    // The bridges first: the ports still standing are being deleted by the kernel's namespace
    // clean-up, and each one it has to unhook from a bridge costs it a bridge-port teardown
    // under RTNL; once the bridge is gone they are plain veths (bench/README.md).
    for (auto& [name, n] : nets_)
        release_bridge(name, n, "");
    await_ports_gone(2s);
    sys::remove_tree(dir_);
}

} // namespace ctr::supervise
