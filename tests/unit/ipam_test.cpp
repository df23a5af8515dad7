// IPAM: static reservations, auto leases in order, stickiness, release, exhaustion, and the JSON a
// restarted supervisor reads back.
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctr/core/error.hpp"
#include "ctr/net/cidr.hpp"
#include "ctr/net/ipam.hpp"

using namespace ctr::net;

namespace {

address_pool pool(std::string_view subnet = "10.88.0.0/24",
                  std::map<std::string, ipv4, std::less<>> statics = {},
                  std::string_view gateway = "") {
    address_pool p;
    p.network = "lab";
    p.subnet = parse_subnet(subnet);
    p.gateway = gateway.empty() ? first_host(p.subnet) : parse_ipv4(gateway);
    p.statics = std::move(statics);
    return p;
}

ipv4 ip(std::string_view s) {
    return parse_ipv4(s);
}
std::string text(ipv4 a) {
    return to_string(a);
}

template <typename F> std::string error_of(F&& f) {
    try {
        f();
    } catch (const ctr::error& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

TEST_CASE("ipam: auto addresses come in order after the gateway") {
    ipam m(pool());
    CHECK(text(m.lease("a")) == "10.88.0.2");
    CHECK(text(m.lease("b")) == "10.88.0.3");
    CHECK(text(m.lease("c")) == "10.88.0.4");
    CHECK(m.leases().size() == 3);
}

TEST_CASE("ipam: the gateway is skipped wherever it is") {
    ipam m(pool("10.88.0.0/29", {}, "10.88.0.3"));
    std::vector<std::string> got;
    for (auto name : {"a", "b", "c", "d", "e"})
        got.push_back(text(m.lease(name)));
    CHECK(got == std::vector<std::string>{"10.88.0.1", "10.88.0.2", "10.88.0.4", "10.88.0.5",
                                          "10.88.0.6"});
    CHECK(error_of([&] { m.lease("f"); }) == "subnet 10.88.0.0/29 exhausted");
}

TEST_CASE("ipam: static addresses are reserved first and skipped by auto ones") {
    ipam m(pool("10.88.0.0/24", {{"db", ip("10.88.0.3")}, {"cache", ip("10.88.0.2")}}));
    CHECK(text(m.lease("a")) == "10.88.0.4");
    CHECK(text(m.lease("db")) == "10.88.0.3");
    CHECK(text(m.lease("cache")) == "10.88.0.2");
    CHECK(text(m.lease("b")) == "10.88.0.5");
    // Static ones are not leases: nothing of them is persisted.
    CHECK(m.leases().size() == 2);
    CHECK(text(*m.address_of("db")) == "10.88.0.3");
}

TEST_CASE("ipam: a container keeps its address until it is released") {
    ipam m(pool());
    auto a = m.lease("web-1");
    m.lease("web-2");
    CHECK(m.lease("web-1") == a);
    CHECK(m.lease("web-1") == a);
    CHECK(m.address_of("web-1") == a);
    CHECK_FALSE(m.address_of("nobody"));
    m.release("web-1");
    CHECK_FALSE(m.address_of("web-1"));
    // The lowest free address goes to the next one asking.
    CHECK(m.lease("web-3") == a);
    // Releasing what has no lease, or a static address, changes nothing.
    m.release("nobody");
    ipam s(pool("10.88.0.0/24", {{"db", ip("10.88.0.9")}}));
    s.release("db");
    CHECK(text(*s.address_of("db")) == "10.88.0.9");
}

TEST_CASE("ipam: exhaustion throws the subnet's message and keeps every other lease") {
    // A /28 has 14 hosts; one is the gateway, one is static.
    ipam m(pool("10.88.0.0/28", {{"db", ip("10.88.0.14")}}));
    std::set<std::string> seen;
    for (int i = 1; i <= 12; ++i)
        seen.insert(text(m.lease(fmt::format("c{}", i))));
    CHECK(seen.size() == 12);
    CHECK_FALSE(seen.contains("10.88.0.0"));
    CHECK_FALSE(seen.contains("10.88.0.1"));
    CHECK_FALSE(seen.contains("10.88.0.14"));
    CHECK_FALSE(seen.contains("10.88.0.15"));
    CHECK(error_of([&] { m.lease("c13"); }) == "subnet 10.88.0.0/28 exhausted");
    CHECK_FALSE(m.address_of("c13"));
    CHECK(m.leases().size() == 12);
    CHECK(text(m.lease("c5")) == "10.88.0.6"); // still its own
    m.release("c5");
    CHECK(text(m.lease("c13")) == "10.88.0.6");
    CHECK(error_of([&] { m.lease("c14"); }) == "subnet 10.88.0.0/28 exhausted");
}

TEST_CASE("ipam: the smallest subnet has one address to give") {
    ipam m(pool("10.88.0.4/30"));
    CHECK(text(m.lease("only")) == "10.88.0.6");
    CHECK(error_of([&] { m.lease("more"); }) == "subnet 10.88.0.4/30 exhausted");
}

TEST_CASE("ipam: bad static addresses are refused") {
    auto refused = [](std::map<std::string, ipv4, std::less<>> statics) {
        return error_of([&] { ipam m(pool("10.88.0.0/24", std::move(statics))); });
    };
    CHECK(refused({{"a", ip("10.89.0.2")}}) ==
          "static address 10.89.0.2 of a on network lab is outside 10.88.0.0/24");
    CHECK(refused({{"a", ip("10.88.0.0")}}) ==
          "static address 10.88.0.0 of a on network lab is the network address of 10.88.0.0/24");
    CHECK(refused({{"a", ip("10.88.0.255")}}) == "static address 10.88.0.255 of a on network lab "
                                                 "is the broadcast address of 10.88.0.0/24");
    CHECK(refused({{"a", ip("10.88.0.1")}}) ==
          "static address 10.88.0.1 of a on network lab is the gateway");
    CHECK(refused({{"a", ip("10.88.0.5")}, {"b", ip("10.88.0.5")}}) ==
          "static address 10.88.0.5 of b on network lab is already the address of a");
}

TEST_CASE("ipam: retain drops the leases of containers gone from the config") {
    ipam m(pool("10.88.0.0/24", {{"db", ip("10.88.0.50")}}));
    for (auto name : {"a", "b", "c", "d"})
        m.lease(name);
    auto dropped = m.retain({"b", "d", "db", "new"});
    CHECK(dropped == std::vector<std::string>{"a", "c"});
    CHECK(m.leases().size() == 2);
    CHECK(text(*m.address_of("b")) == "10.88.0.3");
    CHECK(text(*m.address_of("db")) == "10.88.0.50");
    CHECK(text(m.lease("new")) == "10.88.0.2");
    CHECK(m.retain({"b", "d", "new"}).empty());
}

TEST_CASE("ipam: to_json writes the leases only") {
    ipam m(pool("10.88.0.0/24", {{"db", ip("10.88.0.50")}}));
    m.lease("web-2");
    m.lease("web-1");
    CHECK(m.to_json() == R"({"leases":{"web-1":"10.88.0.3","web-2":"10.88.0.2"},)"
                         R"("network":"lab","subnet":"10.88.0.0/24","version":1})");
}

TEST_CASE("ipam: a restarted supervisor neither reuses nor forgets a lease") {
    ipam before(pool());
    for (int i = 1; i <= 5; ++i)
        before.lease(fmt::format("web-{}", i));
    before.release("web-2");
    std::vector<std::string> dropped;
    auto after = ipam::from_json(before.to_json(), pool(), &dropped);
    CHECK(dropped.empty());
    CHECK(after.leases() == before.leases());
    for (int i : {1, 3, 4, 5})
        CHECK(after.lease(fmt::format("web-{}", i)) ==
              *before.address_of(fmt::format("web-{}", i)));
    // The hole web-2 left is free; nothing else is.
    CHECK(text(after.lease("new-1")) == "10.88.0.3");
    CHECK(text(after.lease("new-2")) == "10.88.0.7");
    CHECK(after.to_json() != before.to_json());
    CHECK(ipam::from_json(after.to_json(), pool()).leases() == after.leases());
}

TEST_CASE("ipam: persisted leases yield to the new config") {
    ipam before(pool());
    for (auto name : {"a", "b", "c", "d", "e"}) // .2 .. .6
        before.lease(name);
    auto json = before.to_json();

    SUBCASE("a static address of another container wins") {
        std::vector<std::string> dropped;
        auto after =
            ipam::from_json(json, pool("10.88.0.0/24", {{"db", ip("10.88.0.4")}}), &dropped);
        CHECK(dropped == std::vector<std::string>{
                             "lease of c (10.88.0.4) dropped: 10.88.0.4 is already the address of "
                             "db"});
        CHECK_FALSE(after.address_of("c"));
        CHECK(text(*after.address_of("db")) == "10.88.0.4");
        // c asks again and gets a fresh address, not db's.
        CHECK(text(after.lease("c")) == "10.88.0.7");
    }
    SUBCASE("a container that now has a static address drops its lease") {
        std::vector<std::string> dropped;
        auto after =
            ipam::from_json(json, pool("10.88.0.0/24", {{"b", ip("10.88.0.9")}}), &dropped);
        CHECK(dropped ==
              std::vector<std::string>{
                  "lease of b (10.88.0.3) dropped: it now has static address 10.88.0.9"});
        CHECK(text(after.lease("b")) == "10.88.0.9");
        CHECK(text(after.lease("f")) == "10.88.0.3");
    }
    SUBCASE("the same address made static for the same container is silently kept") {
        std::vector<std::string> dropped;
        auto after =
            ipam::from_json(json, pool("10.88.0.0/24", {{"b", ip("10.88.0.3")}}), &dropped);
        CHECK(dropped.empty());
        CHECK(text(after.lease("b")) == "10.88.0.3");
        CHECK(after.leases().size() == 4);
    }
    SUBCASE("a moved subnet or gateway") {
        std::vector<std::string> dropped;
        auto after = ipam::from_json(json, pool("10.88.0.0/29", {}, "10.88.0.6"), &dropped);
        CHECK(dropped ==
              std::vector<std::string>{"lease of e (10.88.0.6) dropped: 10.88.0.6 is the gateway"});
        dropped.clear();
        after = ipam::from_json(json, pool("10.88.0.0/30"), &dropped);
        CHECK(dropped == std::vector<std::string>{
                             "lease of b (10.88.0.3) dropped: 10.88.0.3 is the broadcast address "
                             "of 10.88.0.0/30",
                             "lease of c (10.88.0.4) dropped: 10.88.0.4 is outside 10.88.0.0/30",
                             "lease of d (10.88.0.5) dropped: 10.88.0.5 is outside 10.88.0.0/30",
                             "lease of e (10.88.0.6) dropped: 10.88.0.6 is outside 10.88.0.0/30"});
        CHECK(text(*after.address_of("a")) == "10.88.0.2");
    }
    SUBCASE("without a list the drops are silent") {
        auto after = ipam::from_json(json, pool("10.88.0.0/24", {{"db", ip("10.88.0.4")}}));
        CHECK(after.leases().size() == 4);
    }
}

TEST_CASE("ipam: damaged lease entries are dropped one by one") {
    std::vector<std::string> dropped;
    auto m = ipam::from_json(
        R"({"version":1,"leases":{"a":"10.88.0.2","b":"10.88.0.2","c":"nonsense","d":7,"e":"10.88.0.0"}})",
        pool(), &dropped);
    CHECK(dropped ==
          std::vector<std::string>{
              "lease of b (10.88.0.2) dropped: 10.88.0.2 is already the address of a",
              "lease of c (nonsense) dropped: expected four numbers separated by dots, like "
              "10.88.0.1",
              "lease of d (7) dropped: not an address",
              "lease of e (10.88.0.0) dropped: 10.88.0.0 is the network address of 10.88.0.0/24"});
    CHECK(m.leases().size() == 1);
}

TEST_CASE("ipam: a document that is not a lease file is refused") {
    auto refused = [](std::string_view text) {
        return error_of([&] { ipam::from_json(text, pool()); });
    };
    CHECK(refused("") == "leases: not a JSON object");
    CHECK(refused("{") == "leases: not a JSON object");
    CHECK(refused("[]") == "leases: not a JSON object");
    CHECK(refused(R"({"leases":{}})") == "leases: unknown version (expected 1)");
    CHECK(refused(R"({"version":2,"leases":{}})") == "leases: unknown version (expected 1)");
    CHECK(refused(R"({"version":"1","leases":{}})") == "leases: unknown version (expected 1)");
    CHECK(refused(R"({"version":1})") == "leases: no \"leases\" object");
    CHECK(refused(R"({"version":1,"leases":[]})") == "leases: no \"leases\" object");
    CHECK(refused(R"({"version":1,"leases":{}})") == "no error");
}

TEST_CASE("ipam: a random walk of leases and releases never gives one address twice") {
    std::mt19937 rng(4); // fixed: the walk is the same on every run
    ipam m(pool("10.88.0.0/26", {{"s1", ip("10.88.0.7")}, {"s2", ip("10.88.0.40")}}));
    std::map<std::string, ipv4> held; // the model: what each container was given
    const auto subnet = parse_subnet("10.88.0.0/26");
    for (int step = 0; step < 5000; ++step) {
        auto name = fmt::format("c{}", rng() % 80);
        if (rng() % 3 == 0) {
            m.release(name);
            held.erase(name);
            continue;
        }
        try {
            auto a = m.lease(name);
            if (auto h = held.find(name); h != held.end()) REQUIRE(h->second == a);
            held[name] = a;
        } catch (const ctr::error&) {
            // Only when all 59 hosts that are neither the gateway nor static are held.
            REQUIRE(held.size() == 59);
            REQUIRE_FALSE(held.contains(name));
        }
        // One assertion per step: all held addresses are distinct hosts nobody else may have.
        std::set<std::uint32_t> distinct;
        bool allowed = true;
        for (const auto& [n, a] : held) {
            allowed = allowed && contains(subnet, a) && a != network(subnet) &&
                      a != broadcast(subnet) && a != first_host(subnet) && text(a) != "10.88.0.7" &&
                      text(a) != "10.88.0.40";
            distinct.insert(a.value);
        }
        REQUIRE(allowed);
        REQUIRE(distinct.size() == held.size());
        REQUIRE(m.leases().size() == held.size());
    }
}

// The search for a free address walks the taken ones, never the 16 million of a /8.
TEST_CASE("ipam: a /8 with many leases") {
    ipam m(pool("10.0.0.0/8"));
    for (int i = 0; i < 1000; ++i)
        m.lease(fmt::format("c{}", i));
    CHECK(text(*m.address_of("c999")) == "10.0.3.233");
    auto again = ipam::from_json(m.to_json(), pool("10.0.0.0/8"));
    CHECK(again.leases().size() == 1000);
    CHECK(text(again.lease("next")) == "10.0.3.234");
}
