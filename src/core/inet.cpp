#include "ctr/core/inet.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace ctr::inet {
namespace {

constexpr std::size_t ifname_max = 15; // IFNAMSIZ - 1: the kernel keeps a NUL in 16 bytes

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// A decimal number of 1..max_digits digits without a leading zero, or nothing.
std::optional<unsigned> parse_decimal(std::string_view s, std::size_t max_digits) {
    if (s.empty() || s.size() > max_digits) return std::nullopt;
    if (s.size() > 1 && s.front() == '0') return std::nullopt;
    unsigned n = 0;
    for (char c : s) {
        if (!is_digit(c)) return std::nullopt;
        n = n * 10 + static_cast<unsigned>(c - '0');
    }
    return n;
}

} // namespace

std::uint32_t parse_address(std::string_view text) {
    std::uint32_t value = 0;
    std::string_view rest = text;
    for (int i = 0; i < 4; ++i) {
        auto dot = rest.find('.');
        if ((i < 3) == (dot == std::string_view::npos))
            throw std::invalid_argument("expected four numbers separated by dots, like 10.88.0.1");
        auto part = rest.substr(0, dot);
        if (part.size() > 1 && part.front() == '0' &&
            part.find_first_not_of("0123456789") == std::string_view::npos)
            throw std::invalid_argument(fmt::format("octet '{}' has a leading zero", part));
        auto octet = parse_decimal(part, 3);
        if (!octet)
            throw std::invalid_argument("expected four numbers separated by dots, like 10.88.0.1");
        if (*octet > 255) throw std::invalid_argument(fmt::format("octet {} is above 255", *octet));
        value = value << 8 | *octet;
        rest.remove_prefix(dot == std::string_view::npos ? rest.size() : dot + 1);
    }
    return value;
}

block parse_block(std::string_view text) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos)
        throw std::invalid_argument("expected ADDRESS/PREFIX, like 10.88.0.0/24");
    block b;
    b.address = parse_address(text.substr(0, slash));
    auto prefix = parse_decimal(text.substr(slash + 1), 2);
    if (!prefix || *prefix > 32)
        throw std::invalid_argument("the prefix must be a whole number from 0 to 32");
    b.prefix = static_cast<int>(*prefix);
    return b;
}

block parse_subnet(std::string_view text) {
    auto b = parse_block(text);
    if (b.prefix < 8 || b.prefix > 30)
        throw std::invalid_argument(fmt::format(
            "prefix /{} is outside /8 to /30 (a subnet needs a gateway and a host)", b.prefix));
    if (network_of(b) != b.address)
        throw std::invalid_argument(fmt::format("host bits are set; the subnet is {}",
                                                format_block({network_of(b), b.prefix})));
    return b;
}

std::string format_address(std::uint32_t a) {
    return fmt::format("{}.{}.{}.{}", a >> 24, a >> 16 & 0xff, a >> 8 & 0xff, a & 0xff);
}

std::string format_block(block b) {
    return fmt::format("{}/{}", format_address(b.address), b.prefix);
}

std::optional<std::string> invalid_ifname_reason(std::string_view name) {
    if (name.empty()) return "empty";
    if (name.size() > ifname_max)
        return fmt::format("longer than {} characters (the kernel's limit)", ifname_max);
    if (name == "." || name == "..") return "'.' and '..' are not interface names";
    for (char c : name) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) return "contains a space, a control byte or non-ASCII";
        if (c == '/' || c == ':') return fmt::format("contains '{}'", c);
    }
    return std::nullopt;
}

} // namespace ctr::inet
