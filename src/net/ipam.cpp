#include "ctr/net/ipam.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctr/core/error.hpp"
#include "ctr/net/cidr.hpp"

namespace ctr::net {
namespace {

// Bumped when the document changes shape; an unknown version is refused, not half-read.
constexpr int json_version = 1;

} // namespace

ipam::ipam(address_pool pool) : pool_(std::move(pool)) {
    for (const auto& [name, a] : pool_.statics) {
        if (auto why = refusal(a))
            fail("static address {} of {} on network {} {}", to_string(a), name, pool_.network,
                 *why);
        owners_.emplace(a.value, name);
    }
}

std::optional<std::string> ipam::refusal(ipv4 a) const {
    const auto& s = pool_.subnet;
    if (!contains(s, a)) return fmt::format("is outside {}", to_string(s));
    if (a == network(s)) return fmt::format("is the network address of {}", to_string(s));
    if (a == broadcast(s)) return fmt::format("is the broadcast address of {}", to_string(s));
    if (a == pool_.gateway) return "is the gateway";
    if (auto o = owners_.find(a.value); o != owners_.end())
        return fmt::format("is already the address of {}", o->second);
    return std::nullopt;
}

// Walks the subnet and the sorted owners together, so finding the first gap costs at most one
// step per address already taken, not one per address of the subnet.
std::optional<ipv4> ipam::lowest_free() const {
    const auto first = first_host(pool_.subnet).value;
    const auto last = last_host(pool_.subnet).value; // below broadcast: ++a cannot wrap
    auto taken = owners_.lower_bound(first);
    for (auto a = first; a <= last; ++a) {
        while (taken != owners_.end() && taken->first < a)
            ++taken;
        if (a == pool_.gateway.value) continue;
        if (taken != owners_.end() && taken->first == a) continue;
        return ipv4{a};
    }
    return std::nullopt;
}

ipv4 ipam::lease(std::string_view container) {
    if (auto a = address_of(container)) return *a;
    auto a = lowest_free();
    if (!a) fail("subnet {} exhausted", to_string(pool_.subnet));
    leases_.emplace(container, *a);
    owners_.emplace(a->value, container);
    return *a;
}

void ipam::release(std::string_view container) {
    auto l = leases_.find(container);
    if (l == leases_.end()) return;
    owners_.erase(l->second.value);
    leases_.erase(l);
}

std::vector<std::string> ipam::retain(const std::vector<std::string>& names) {
    std::vector<std::string> dropped;
    for (const auto& [name, a] : leases_)
        if (std::find(names.begin(), names.end(), name) == names.end()) dropped.push_back(name);
    for (const auto& name : dropped)
        release(name);
    return dropped;
}

std::optional<ipv4> ipam::address_of(std::string_view container) const {
    if (auto s = pool_.statics.find(container); s != pool_.statics.end()) return s->second;
    if (auto l = leases_.find(container); l != leases_.end()) return l->second;
    return std::nullopt;
}

std::string ipam::to_json() const {
    nlohmann::json leases = nlohmann::json::object();
    for (const auto& [name, a] : leases_)
        leases[name] = to_string(a);
    nlohmann::json doc = {{"version", json_version},
                          {"network", pool_.network},
                          {"subnet", to_string(pool_.subnet)},
                          {"leases", std::move(leases)}};
    return doc.dump();
}

ipam ipam::from_json(std::string_view text, address_pool pool, std::vector<std::string>* dropped) {
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) fail("leases: not a JSON object");
    auto version = doc.find("version");
    if (version == doc.end() || *version != json_version)
        fail("leases: unknown version (expected {})", json_version);
    auto leases = doc.find("leases");
    if (leases == doc.end() || !leases->is_object()) fail("leases: no \"leases\" object");

    ipam out(std::move(pool));
    auto drop = [&](const std::string& name, std::string_view was, const std::string& why) {
        if (dropped)
            dropped->push_back(fmt::format("lease of {} ({}) dropped: {}", name, was, why));
    };
    // nlohmann keeps object keys sorted, so which of two clashing leases survives is stable.
    for (const auto& [name, value] : leases->items()) {
        if (!value.is_string()) {
            drop(name, value.dump(), "not an address");
            continue;
        }
        const auto& text_address = value.get_ref<const std::string&>();
        ipv4 a;
        try {
            a = parse_ipv4(text_address);
        } catch (const std::invalid_argument& e) {
            drop(name, text_address, e.what());
            continue;
        }
        if (auto s = out.pool_.statics.find(name); s != out.pool_.statics.end()) {
            if (s->second != a)
                drop(name, text_address,
                     fmt::format("it now has static address {}", to_string(s->second)));
            continue;
        }
        if (auto why = out.refusal(a)) {
            drop(name, text_address, fmt::format("{} {}", text_address, *why));
            continue;
        }
        out.leases_.emplace(name, a);
        out.owners_.emplace(a.value, name);
    }
    return out;
}

} // namespace ctr::net
