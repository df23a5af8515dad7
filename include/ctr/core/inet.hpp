// IPv4 addresses, CIDR blocks and interface names as text, and the arithmetic on them.
//
// It lives in core because two modules must apply the very same rules: config, which rejects a
// bad subnet or a clashing static address with the file's line, and net, which acts on the values
// config accepted. config depends on core only, so the rules cannot live in net; net/cidr.hpp puts
// its typed API (net::ipv4, net::cidr) over these functions instead of parsing a second time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ctr::inet {

// An address with its prefix length, host byte order: 10.88.0.1/24 or 10.88.0.0/24.
struct block {
    std::uint32_t address = 0;
    int prefix = 0; // 0..32
    friend bool operator==(const block&, const block&) = default;
};

// The parsers throw std::invalid_argument with the reason only; callers add what was parsed.

// Strict dotted quad: four decimal octets 0..255 without leading zeros (inet_aton would read
// "010" as octal 8, so it is refused rather than guessed) and without spaces.
std::uint32_t parse_address(std::string_view text);

// "A.B.C.D/N" with N from 0 to 32; host bits may be set (an interface address).
block parse_block(std::string_view text);

// A subnet a network may use: prefix 8..30 (a /31 or /32 leaves no room for a gateway and a host;
// a block wider than /8 is a typo) and no host bits set.
block parse_subnet(std::string_view text);

std::string format_address(std::uint32_t address);
std::string format_block(block b); // "10.88.0.0/24"

constexpr std::uint32_t netmask(int prefix) {
    // Shifting a 32-bit value by 32 is undefined, hence the test.
    return prefix <= 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
}
constexpr std::uint32_t network_of(block b) {
    return b.address & netmask(b.prefix);
}
constexpr std::uint32_t broadcast_of(block b) {
    return network_of(b) | ~netmask(b.prefix);
}
constexpr bool contains(block b, std::uint32_t address) {
    return (address & netmask(b.prefix)) == network_of(b);
}
// Two blocks share an address exactly when one holds the other's network address.
constexpr bool overlaps(block a, block b) {
    return contains(a, network_of(b)) || contains(b, network_of(a));
}

// The kernel's rule for link names (dev_valid_name): 1..15 bytes (IFNAMSIZ - 1), not "." or "..",
// no '/', ':' or whitespace; control bytes and non-ASCII are refused too, since names end up in
// logs and sysfs paths. Returns the reason it is invalid, or nothing.
std::optional<std::string> invalid_ifname_reason(std::string_view name);

} // namespace ctr::inet
