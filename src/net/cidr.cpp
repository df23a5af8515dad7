#include "ctr/net/cidr.hpp"

#include "ctr/core/inet.hpp"

namespace ctr::net {
namespace {

inet::block block_of(const cidr& c) {
    return {c.address.value, c.prefix};
}
cidr cidr_of(inet::block b) {
    return {ipv4{b.address}, b.prefix};
}

} // namespace

ipv4 parse_ipv4(std::string_view text) {
    return ipv4{inet::parse_address(text)};
}
cidr parse_cidr(std::string_view text) {
    return cidr_of(inet::parse_block(text));
}
cidr parse_subnet(std::string_view text) {
    return cidr_of(inet::parse_subnet(text));
}

std::string to_string(ipv4 a) {
    return inet::format_address(a.value);
}
std::string to_string(const cidr& c) {
    return inet::format_block(block_of(c));
}

ipv4 network(const cidr& c) {
    return ipv4{inet::network_of(block_of(c))};
}
ipv4 broadcast(const cidr& c) {
    return ipv4{inet::broadcast_of(block_of(c))};
}
ipv4 first_host(const cidr& c) {
    return ipv4{network(c).value + 1};
}
ipv4 last_host(const cidr& c) {
    return ipv4{broadcast(c).value - 1};
}
cidr subnet_of(const cidr& c) {
    return {network(c), c.prefix};
}
bool contains(const cidr& c, ipv4 a) {
    return inet::contains(block_of(c), a.value);
}
bool overlaps(const cidr& a, const cidr& b) {
    return inet::overlaps(block_of(a), block_of(b));
}

} // namespace ctr::net
