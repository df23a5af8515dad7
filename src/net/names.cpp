#include "ctr/net/names.hpp"

#include <fmt/format.h>

#include "ctr/core/inet.hpp"

namespace ctr::net {
namespace {

// Network names cannot contain '/' (config checks them like container names), so the key is
// unambiguous: ("a", "b/c") and ("a/b", "c") cannot both exist.
std::uint64_t hash_of(std::string_view network, std::string_view container) {
    return fnv1a64(fmt::format("{}/{}", network, container));
}

} // namespace

bool fits_ifname(std::string_view name) {
    return !inet::invalid_ifname_reason(name);
}

std::uint64_t fnv1a64(std::string_view data) {
    std::uint64_t h = 0xcbf29ce484222325ULL; // offset basis
    for (char c : data) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL; // FNV prime
    }
    return h;
}

std::string host_ifname(std::string_view network, std::string_view container) {
    return fmt::format("{}{:010x}", owned_prefix, hash_of(network, container) & 0xff'ffff'ffffULL);
}

mac_address container_mac(std::string_view network, std::string_view container) {
    auto h = hash_of(network, container);
    mac_address mac;
    for (std::size_t i = 0; i < mac.bytes.size(); ++i)
        mac.bytes[i] = static_cast<std::uint8_t>(h >> (40 - 8 * i));
    // Bit 1 of the first byte: locally administered; bit 0 clear: unicast.
    mac.bytes[0] = static_cast<std::uint8_t>((mac.bytes[0] & 0xfe) | 0x02);
    return mac;
}

std::string to_string(const mac_address& mac) {
    const auto& b = mac.bytes;
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4],
                       b[5]);
}

} // namespace ctr::net
