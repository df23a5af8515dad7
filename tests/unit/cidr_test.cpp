// IPv4 text and arithmetic: core's rules (ctr/core/inet.hpp), shared with config, and net's typed
// API over them (ctr/net/cidr.hpp).
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "ctr/core/inet.hpp"
#include "ctr/net/cidr.hpp"
#include "ctr/net/names.hpp"

using namespace ctr::net;
namespace inet = ctr::inet;

namespace {

template <typename F> std::string error_of(F&& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "no error";
}

std::string ipv4_error(std::string_view s) {
    return error_of([&] { parse_ipv4(s); });
}
std::string cidr_error(std::string_view s) {
    return error_of([&] { parse_cidr(s); });
}
std::string subnet_error(std::string_view s) {
    return error_of([&] { parse_subnet(s); });
}

constexpr std::uint32_t addr(unsigned a, unsigned b, unsigned c, unsigned d) {
    return a << 24 | b << 16 | c << 8 | d;
}

const std::string not_a_quad = "expected four numbers separated by dots, like 10.88.0.1";

} // namespace

TEST_CASE("cidr: parse IPv4 addresses") {
    CHECK(parse_ipv4("10.88.0.1") == ipv4{addr(10, 88, 0, 1)});
    CHECK(parse_ipv4("0.0.0.0") == ipv4{0});
    CHECK(parse_ipv4("255.255.255.255") == ipv4{0xffffffff});
    CHECK(parse_ipv4("192.168.100.200") == ipv4{addr(192, 168, 100, 200)});
    CHECK(parse_ipv4("1.0.0.0") == ipv4{addr(1, 0, 0, 0)});
}

TEST_CASE("cidr: bad IPv4 addresses, each with its reason") {
    struct row {
        std::string_view text;
        std::string why;
    };
    const row rows[] = {
        {"", not_a_quad},
        {"10", not_a_quad},
        {"10.88.0", not_a_quad},
        {"10.88.0.1.2", not_a_quad},
        {"10.88.0.", not_a_quad},
        {".10.88.0", not_a_quad},
        {"10..0.1", not_a_quad},
        {"10.88.0.1.", not_a_quad},
        {" 10.88.0.1", not_a_quad},
        {"10.88.0.1 ", not_a_quad},
        {"10.88.0. 1", not_a_quad},
        {"+1.0.0.1", not_a_quad},
        {"-1.0.0.1", not_a_quad},
        {"0x0a.0.0.1", not_a_quad},
        {"a.b.c.d", not_a_quad},
        {"1000.0.0.1", not_a_quad},
        {"10.88.0.1/24", not_a_quad},
        {"256.0.0.1", "octet 256 is above 255"},
        {"10.88.0.999", "octet 999 is above 255"},
        // inet_aton would read these as octal: refused rather than guessed.
        {"010.0.0.1", "octet '010' has a leading zero"},
        {"10.088.0.1", "octet '088' has a leading zero"},
        {"10.88.00.1", "octet '00' has a leading zero"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.text);
        CHECK(ipv4_error(r.text) == r.why);
    }
}

TEST_CASE("cidr: parse CIDRs: interface addresses keep their host bits") {
    CHECK(parse_cidr("10.88.0.1/24") == cidr{ipv4{addr(10, 88, 0, 1)}, 24});
    CHECK(parse_cidr("0.0.0.0/0") == cidr{ipv4{0}, 0});
    CHECK(parse_cidr("10.88.0.7/32") == cidr{ipv4{addr(10, 88, 0, 7)}, 32});
    const std::string bad_prefix = "the prefix must be a whole number from 0 to 32";
    CHECK(cidr_error("10.88.0.1") == "expected ADDRESS/PREFIX, like 10.88.0.0/24");
    CHECK(cidr_error("") == "expected ADDRESS/PREFIX, like 10.88.0.0/24");
    CHECK(cidr_error("10.88.0.1/") == bad_prefix);
    CHECK(cidr_error("10.88.0.1/33") == bad_prefix);
    CHECK(cidr_error("10.88.0.1/024") == bad_prefix);
    CHECK(cidr_error("10.88.0.1/-1") == bad_prefix);
    CHECK(cidr_error("10.88.0.1/ 24") == bad_prefix);
    CHECK(cidr_error("10.88.0.1/24/") == bad_prefix);
    CHECK(cidr_error("10.88.0.1/2x") == bad_prefix);
    CHECK(cidr_error("10.88.0.256/24") == "octet 256 is above 255");
    CHECK(cidr_error("/24") == not_a_quad);
}

TEST_CASE("cidr: subnets: prefix 8..30 and no host bits") {
    CHECK(parse_subnet("10.88.0.0/24") == cidr{ipv4{addr(10, 88, 0, 0)}, 24});
    CHECK(parse_subnet("10.0.0.0/8") == cidr{ipv4{addr(10, 0, 0, 0)}, 8});
    CHECK(parse_subnet("10.88.0.4/30") == cidr{ipv4{addr(10, 88, 0, 4)}, 30});
    for (int p : {0, 1, 7, 31, 32})
        CHECK(subnet_error("10.0.0.0/" + std::to_string(p)) ==
              "prefix /" + std::to_string(p) +
                  " is outside /8 to /30 (a subnet needs a gateway and a host)");
    CHECK(subnet_error("10.88.0.1/24") == "host bits are set; the subnet is 10.88.0.0/24");
    CHECK(subnet_error("10.88.0.2/30") == "host bits are set; the subnet is 10.88.0.0/30");
    CHECK(subnet_error("10.88.1.0/16") == "host bits are set; the subnet is 10.88.0.0/16");
    CHECK(subnet_error("10.88.0.0") == "expected ADDRESS/PREFIX, like 10.88.0.0/24");
}

TEST_CASE("cidr: every prefix and a spread of addresses survive to_string and back") {
    for (int prefix = 0; prefix <= 32; ++prefix)
        for (std::uint32_t a : {0u, 1u, addr(10, 88, 0, 1), addr(127, 0, 0, 1), 0x80000000u,
                                addr(192, 168, 255, 254), 0xffffffffu}) {
            cidr c{ipv4{a}, prefix};
            CAPTURE(to_string(c));
            CHECK(parse_cidr(to_string(c)) == c);
            CHECK(parse_ipv4(to_string(c.address)) == c.address);
            if (prefix >= 8 && prefix <= 30)
                CHECK(parse_subnet(to_string(subnet_of(c))) == subnet_of(c));
        }
    CHECK(to_string(ipv4{addr(10, 88, 0, 1)}) == "10.88.0.1");
    CHECK(to_string(cidr{ipv4{addr(10, 88, 0, 0)}, 24}) == "10.88.0.0/24");
}

TEST_CASE("cidr: network, broadcast, first and last host") {
    struct row {
        std::string_view block, network, broadcast, first, last;
    };
    const row rows[] = {
        {"10.88.0.0/24", "10.88.0.0", "10.88.0.255", "10.88.0.1", "10.88.0.254"},
        {"10.88.0.77/24", "10.88.0.0", "10.88.0.255", "10.88.0.1", "10.88.0.254"},
        {"10.88.0.0/28", "10.88.0.0", "10.88.0.15", "10.88.0.1", "10.88.0.14"},
        {"10.88.0.16/28", "10.88.0.16", "10.88.0.31", "10.88.0.17", "10.88.0.30"},
        {"10.88.0.4/30", "10.88.0.4", "10.88.0.7", "10.88.0.5", "10.88.0.6"},
        {"10.0.0.0/8", "10.0.0.0", "10.255.255.255", "10.0.0.1", "10.255.255.254"},
        {"172.16.5.9/12", "172.16.0.0", "172.31.255.255", "172.16.0.1", "172.31.255.254"},
        {"192.168.1.200/25", "192.168.1.128", "192.168.1.255", "192.168.1.129", "192.168.1.254"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.block);
        auto c = parse_cidr(r.block);
        CHECK(to_string(network(c)) == r.network);
        CHECK(to_string(broadcast(c)) == r.broadcast);
        CHECK(to_string(first_host(c)) == r.first);
        CHECK(to_string(last_host(c)) == r.last);
        CHECK(to_string(subnet_of(c)) == std::string(r.network) + "/" + std::to_string(c.prefix));
    }
    // The edges: /0 holds everything, /32 only itself.
    CHECK(to_string(broadcast(parse_cidr("1.2.3.4/0"))) == "255.255.255.255");
    CHECK(to_string(network(parse_cidr("1.2.3.4/32"))) == "1.2.3.4");
    CHECK(to_string(broadcast(parse_cidr("1.2.3.4/32"))) == "1.2.3.4");
}

TEST_CASE("cidr: contains") {
    auto s = parse_subnet("10.88.0.0/24");
    CHECK(contains(s, parse_ipv4("10.88.0.0")));
    CHECK(contains(s, parse_ipv4("10.88.0.1")));
    CHECK(contains(s, parse_ipv4("10.88.0.255")));
    CHECK_FALSE(contains(s, parse_ipv4("10.88.1.0")));
    CHECK_FALSE(contains(s, parse_ipv4("10.87.255.255")));
    CHECK_FALSE(contains(s, parse_ipv4("0.0.0.0")));
    // A host address with its prefix contains its own subnet's addresses.
    CHECK(contains(parse_cidr("10.88.0.7/24"), parse_ipv4("10.88.0.200")));
    CHECK(contains(parse_cidr("0.0.0.0/0"), parse_ipv4("255.255.255.255")));
    CHECK(contains(parse_cidr("1.2.3.4/32"), parse_ipv4("1.2.3.4")));
    CHECK_FALSE(contains(parse_cidr("1.2.3.4/32"), parse_ipv4("1.2.3.5")));
}

TEST_CASE("cidr: overlaps, either way round") {
    struct row {
        std::string_view a, b;
        bool overlap;
    };
    const row rows[] = {
        {"10.88.0.0/24", "10.88.0.0/24", true},      {"10.88.0.0/16", "10.88.5.0/24", true},
        {"10.88.0.0/24", "10.88.1.0/24", false},     {"10.88.0.0/25", "10.88.0.128/25", false},
        {"10.0.0.0/8", "10.255.255.252/30", true},   {"10.0.0.0/8", "11.0.0.0/8", false},
        {"192.168.0.0/30", "192.168.0.4/30", false}, {"192.168.0.0/29", "192.168.0.4/30", true},
    };
    for (const auto& r : rows) {
        CAPTURE(r.a);
        CAPTURE(r.b);
        CHECK(overlaps(parse_subnet(r.a), parse_subnet(r.b)) == r.overlap);
        CHECK(overlaps(parse_subnet(r.b), parse_subnet(r.a)) == r.overlap);
    }
}

TEST_CASE("inet: netmask at every prefix") {
    CHECK(inet::netmask(0) == 0);
    CHECK(inet::netmask(1) == 0x80000000u);
    CHECK(inet::netmask(8) == 0xff000000u);
    CHECK(inet::netmask(24) == 0xffffff00u);
    CHECK(inet::netmask(31) == 0xfffffffeu);
    CHECK(inet::netmask(32) == 0xffffffffu);
    for (int p = 1; p <= 32; ++p)
        CHECK(inet::netmask(p) == (inet::netmask(p - 1) | std::uint32_t{1} << (32 - p)));
    static_assert(inet::broadcast_of({addr(10, 88, 0, 9), 28}) == addr(10, 88, 0, 15));
}

TEST_CASE("inet: interface names the kernel accepts") {
    CHECK_FALSE(inet::invalid_ifname_reason("ctr0"));
    CHECK_FALSE(inet::invalid_ifname_reason("br-lab.10_x"));
    CHECK_FALSE(inet::invalid_ifname_reason(std::string(15, 'b')));
    CHECK(inet::invalid_ifname_reason("") == "empty");
    CHECK(inet::invalid_ifname_reason(std::string(16, 'b')) ==
          "longer than 15 characters (the kernel's limit)");
    CHECK(inet::invalid_ifname_reason(".") == "'.' and '..' are not interface names");
    CHECK(inet::invalid_ifname_reason("..") == "'.' and '..' are not interface names");
    CHECK(inet::invalid_ifname_reason("br/0") == "contains '/'");
    CHECK(inet::invalid_ifname_reason("eth0:1") == "contains ':'");
    using namespace std::string_view_literals;
    for (auto bad : {"br 0"sv, "br\t0"sv, "br\n"sv, "br\0"sv, "br\x7f"sv, "br\xc3\xa9"sv})
        CHECK(inet::invalid_ifname_reason(bad) == "contains a space, a control byte or non-ASCII");
    // net's predicate applies the same rule.
    CHECK(fits_ifname("ctr0"));
    CHECK(fits_ifname(std::string(15, 'x')));
    CHECK_FALSE(fits_ifname(std::string(16, 'x')));
    CHECK_FALSE(fits_ifname(""));
    CHECK_FALSE(fits_ifname("a/b"));
}
