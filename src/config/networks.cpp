#include "networks.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace ctr::config {
namespace {

int line_of(const key_lines& keys, std::string_view key, int fallback) {
    auto it = keys.find(key);
    return it == keys.end() ? fallback : it->second;
}

std::string label_of(const network& n) {
    return fmt::format("[network {}]", n.name);
}

// The same shape as apply_keys' messages, for values that are fine alone but not together.
void bad(std::vector<ini::problem>& problems, int line, std::string_view key,
         std::string_view value, std::string_view label, std::string_view why) {
    problems.push_back({line, fmt::format("bad {} '{}' in {}: {}", key, value, label, why)});
}

} // namespace

void network_checker::add(network net, const key_lines& keys, bool usable,
                          std::vector<ini::problem>& problems) {
    entry e{std::move(net), keys, usable, {}, 0};
    if (e.usable) {
        e.subnet = inet::parse_subnet(e.net.subnet);
        if (e.net.gateway.empty()) e.net.gateway = inet::format_address(e.subnet.address + 1);
        e.gateway = inet::parse_address(e.net.gateway);
        std::string why;
        if (!inet::contains(e.subnet, e.gateway))
            why = fmt::format("outside {}", e.net.subnet);
        else if (e.gateway == e.subnet.address)
            why = fmt::format("the network address of {}", e.net.subnet);
        else if (e.gateway == inet::broadcast_of(e.subnet))
            why = fmt::format("the broadcast address of {}", e.net.subnet);
        if (!why.empty()) {
            bad(problems, line_of(keys, "gateway", e.net.line), "gateway", e.net.gateway,
                label_of(e.net), why);
            e.usable = false;
        }
    }
    entries_.push_back(std::move(e));
}

void network_checker::check_clashes(std::vector<ini::problem>& problems) const {
    for (auto later = entries_.begin(); later != entries_.end(); ++later) {
        if (!later->usable) continue;
        for (auto earlier = entries_.begin(); earlier != later; ++earlier) {
            if (!earlier->usable) continue;
            const auto &a = earlier->net, &b = later->net;
            if (a.bridge == b.bridge)
                bad(problems, line_of(later->keys, "bridge", b.line), "bridge", b.bridge,
                    label_of(b),
                    fmt::format("already the bridge of {} (line {})", label_of(a),
                                line_of(earlier->keys, "bridge", a.line)));
            if (inet::overlaps(earlier->subnet, later->subnet))
                bad(problems, line_of(later->keys, "subnet", b.line), "subnet", b.subnet,
                    label_of(b),
                    fmt::format("overlaps {} of {} (line {})", a.subnet, label_of(a),
                                line_of(earlier->keys, "subnet", a.line)));
        }
    }
}

const network_checker::entry* network_checker::find(std::string_view name) const {
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const entry& e) { return e.net.name == name; });
    return it == entries_.end() ? nullptr : &*it;
}

std::optional<std::string> network_checker::static_address_problem(const entry& e,
                                                                   std::uint32_t address,
                                                                   const container_draft& d) const {
    auto where = label_of(e.net);
    if (!inet::contains(e.subnet, address))
        return fmt::format("outside {} of {}", e.net.subnet, where);
    if (address == e.subnet.address) return fmt::format("the network address of {}", where);
    if (address == inet::broadcast_of(e.subnet))
        return fmt::format("the broadcast address of {}", where);
    if (address == e.gateway) return fmt::format("the gateway of {}", where);
    // Replicas share their section's keys, and one address cannot go to several of them.
    if (d.replicas.value_or(1) > 1)
        return fmt::format("a static address cannot go to {} replicas", *d.replicas);
    if (auto c = statics_.find({e.net.name, address}); c != statics_.end())
        return fmt::format("already the address of {} (line {})", c->second.label, c->second.line);
    return std::nullopt;
}

void network_checker::check_container(std::string_view label, const container_draft& d,
                                      const key_lines& keys, std::vector<ini::problem>& problems) {
    int ip_line = line_of(keys, "ip", 0);
    if (!d.network) {
        // A network key whose value was refused has its own message already.
        if (d.ip && !keys.contains("network"))
            bad(problems, ip_line, "ip", *d.ip, label, "there is no network key");
        return;
    }
    const entry* e = find(*d.network);
    if (!e)
        return bad(problems, line_of(keys, "network", 0), "network", *d.network, label,
                   fmt::format("there is no [network {}] section", *d.network));
    // A broken [network] section has its own messages; checking against it would only add noise.
    if (!e->usable || !d.ip || *d.ip == "auto") return;
    auto address = inet::parse_address(*d.ip);
    if (auto why = static_address_problem(*e, address, d))
        return bad(problems, ip_line, "ip", *d.ip, label, *why);
    statics_.emplace(std::pair{e->net.name, address}, claim{std::string(label), ip_line});
}

std::vector<network> network_checker::networks() const {
    std::vector<network> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_)
        out.push_back(e.net);
    return out;
}

} // namespace ctr::config
