// Interface names and MAC addresses derived from the network's and the container's names. Pure
// and deterministic, so a restarted supervisor computes the same names for the same containers,
// finds their links again, and can tell its own leftovers (owned_prefix) from anyone else's links.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ctr::net {

// Every host-side link ctr-supervisor makes starts with this; plan() deletes such a link when no
// running container wants it, and never touches a link without it.
inline constexpr std::string_view owned_prefix = "vctr";

// The container's end of its veth pair, inside its own network namespace.
inline constexpr std::string_view container_ifname = "eth0";

// IFNAMSIZ - 1: the kernel keeps names with their NUL in 16 bytes.
inline constexpr std::size_t max_ifname = 15;

// A name the kernel accepts for a link: 1..15 bytes, not "." or "..", no '/', ':', whitespace.
bool fits_ifname(std::string_view name);

// 64-bit FNV-1a: stable across builds and hosts, unlike std::hash.
std::uint64_t fnv1a64(std::string_view data);

// The host end of the container's veth pair: owned_prefix and 10 hex digits of the hash of
// "network/container" (14 characters). 40 bits keep two names of 1,000 containers apart with
// probability 1 - 5e-7; a 32-bit hash would collide once in ~8,600 such hosts.
std::string host_ifname(std::string_view network, std::string_view container);

// A locally administered unicast MAC for the container's eth0, from the same hash, so neighbours'
// ARP entries stay right across the container's restarts.
struct mac_address {
    std::array<std::uint8_t, 6> bytes{};
    friend bool operator==(const mac_address&, const mac_address&) = default;
};
mac_address container_mac(std::string_view network, std::string_view container);
std::string to_string(const mac_address& mac); // "0a:1b:2c:3d:4e:5f"

} // namespace ctr::net
