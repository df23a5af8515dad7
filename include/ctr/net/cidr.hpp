// IPv4 addresses and CIDR blocks for the network code: text in and out, and the few questions
// IPAM, the plan and the hosts file ask of a subnet. The rules themselves (what text is accepted,
// which prefixes a subnet may have) are core's (ctr/core/inet.hpp), shared with config, so a value
// config accepted always parses here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ctr/net/model.hpp"

namespace ctr::net {

// Each throws std::invalid_argument with the reason, as core's parsers do.
ipv4 parse_ipv4(std::string_view text);   // "10.88.0.1", strict dotted quad
cidr parse_cidr(std::string_view text);   // "10.88.0.1/24": an interface address, any prefix
cidr parse_subnet(std::string_view text); // "10.88.0.0/24": prefix 8..30, no host bits set

std::string to_string(ipv4 a);
std::string to_string(const cidr& c);

// For a block of any prefix; first_host and last_host assume a subnet (prefix <= 30).
ipv4 network(const cidr& c);
ipv4 broadcast(const cidr& c);
ipv4 first_host(const cidr& c); // network + 1: the default gateway
ipv4 last_host(const cidr& c);  // broadcast - 1
cidr subnet_of(const cidr& c);  // 10.88.0.7/24 -> 10.88.0.0/24
bool contains(const cidr& c, ipv4 a);
bool overlaps(const cidr& a, const cidr& b);

} // namespace ctr::net
