// Interface names and MACs derived from (network, container): deterministic, short enough for the
// kernel, recognisable by their prefix, and distinct.
#include <set>
#include <string>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "ctr/net/names.hpp"

using namespace ctr::net;

TEST_CASE("names: FNV-1a 64 matches the published test vectors") {
    // The names persist across runs and versions: the hash must never drift.
    CHECK(fnv1a64("") == 0xcbf29ce484222325ULL);
    CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
    CHECK(fnv1a64("foobar") == 0x85944171f73967e8ULL);
}

TEST_CASE("names: host ends of veths: owned prefix, 14 characters, stable") {
    auto name = host_ifname("lab", "web-1");
    CHECK(name.starts_with(owned_prefix));
    CHECK(name.size() == owned_prefix.size() + 10);
    CHECK(name.size() <= max_ifname);
    CHECK(fits_ifname(name));
    CHECK(name.find_first_not_of("0123456789abcdef", owned_prefix.size()) == std::string::npos);
    CHECK(host_ifname("lab", "web-1") == name);
    // Pinned: a restarted (or upgraded) supervisor must find the links an earlier run made.
    CHECK(name == fmt::format("vctr{:010x}", fnv1a64("lab/web-1") & 0xffffffffffULL));
}

TEST_CASE("names: the longest names still fit") {
    auto longest = std::string(63, 'z');
    auto name = host_ifname(longest, longest);
    CHECK(name.size() == 14);
    CHECK(fits_ifname(name));
}

TEST_CASE("names: distinct containers and networks get distinct names and MACs") {
    std::set<std::string> names;
    std::set<std::string> macs;
    int n = 0;
    for (auto network : {"lab", "lab2", "db"})
        for (int i = 1; i <= 5000; ++i, ++n) {
            auto container = fmt::format("web-{}", i);
            names.insert(host_ifname(network, container));
            macs.insert(to_string(container_mac(network, container)));
        }
    CHECK(names.size() == static_cast<std::size_t>(n));
    CHECK(macs.size() == static_cast<std::size_t>(n));
    // The separator keeps ("a", "b-c") and ("a-b", "c") apart.
    CHECK(host_ifname("a", "b-c") != host_ifname("a-b", "c"));
    CHECK(host_ifname("lab", "web") != host_ifname("lab2", "web"));
}

TEST_CASE("names: container MACs are locally administered unicast and stable") {
    for (int i = 0; i < 1000; ++i) {
        auto mac = container_mac("lab", fmt::format("c{}", i));
        CAPTURE(to_string(mac));
        CHECK((mac.bytes[0] & 0x01) == 0); // unicast
        CHECK((mac.bytes[0] & 0x02) == 2); // locally administered
        CHECK(mac == container_mac("lab", fmt::format("c{}", i)));
    }
    auto text = to_string(container_mac("lab", "web-1"));
    CHECK(text.size() == 17);
    CHECK(text[2] == ':');
    CHECK(text.find_first_not_of("0123456789abcdef:") == std::string::npos);
    mac_address m{{0x02, 0x00, 0xab, 0x0c, 0xff, 0x01}};
    CHECK(to_string(m) == "02:00:ab:0c:ff:01");
}

TEST_CASE("names: the constants") {
    CHECK(owned_prefix == "vctr");
    CHECK(container_ifname == "eth0");
    CHECK(max_ifname == 15);
    CHECK(fits_ifname(owned_prefix));
}
