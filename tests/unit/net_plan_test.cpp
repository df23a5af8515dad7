// plan(desired, observed): exact operations for each situation (a table), then every combination
// of bridge and port states against a fake kernel: applying the plan converges in one round, the
// order is bridges, ports, deletes, and no link outside ours is ever named.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ctr/net/cidr.hpp"
#include "ctr/net/model.hpp"
#include "ctr/net/plan.hpp"

using namespace ctr::net;

namespace {

const std::string prefix = "vctr";

bridge_spec bridge(std::string name = "ctr0", std::string gateway = "10.88.0.1/24",
                   unsigned mtu = 1500) {
    return {"lab", std::move(name), parse_cidr(gateway), mtu};
}

port_spec port(std::string container, std::string host_if, std::string address,
               std::string bridge_name = "ctr0", unsigned mtu = 1500) {
    auto a = parse_cidr(address);
    return {std::move(container),
            std::move(host_if),
            std::move(bridge_name),
            a,
            first_host(a),
            mtu,
            -1};
}

link_state link(std::string name, std::string kind, int index, int master = 0, bool up = true,
                unsigned mtu = 1500, std::vector<std::string> addresses = {}) {
    link_state l{std::move(name), std::move(kind), index, master, up, mtu, {}};
    for (const auto& a : addresses)
        l.addresses.push_back(parse_cidr(a));
    return l;
}

// Links that are not ours, on every host the tests imagine. Indexes 1..9.
std::vector<link_state> foreign() {
    return {link("lo", "", 1, 0, true, 65536, {"127.0.0.1/8"}),
            link("eth0", "", 2, 0, true, 1500, {"192.168.1.10/24"}),
            link("docker0", "bridge", 3, 0, true, 1500, {"172.17.0.1/16"}),
            link("veth1a2b", "veth", 4, 3),
            link("vct", "veth", 5),
            link("Vctr1", "veth", 6)};
}

std::vector<link_state> with(std::vector<link_state> links, std::vector<link_state> more) {
    links.insert(links.end(), more.begin(), more.end());
    return links;
}

const link_state ctr0_ok = link("ctr0", "bridge", 10, 0, true, 1500, {"10.88.0.1/24"});
const link_state web1_ok = link("vctrweb1", "veth", 11, 10);
const link_state web2_ok = link("vctrweb2", "veth", 12, 10);

desired_state lab() {
    return {{bridge()},
            {port("web-1", "vctrweb1", "10.88.0.2/24"), port("web-2", "vctrweb2", "10.88.0.3/24")},
            prefix};
}

// One string per list, so doctest can show both sides of a failed comparison.
std::string shown(const std::vector<std::string>& v) {
    return fmt::format("{}", fmt::join(v, "\n"));
}

std::string lines(const std::vector<op>& ops) {
    std::vector<std::string> out;
    for (const auto& o : ops)
        out.push_back(to_string(o));
    return shown(out);
}

link_state* find(std::vector<link_state>& links, const std::string& name) {
    auto it = std::find_if(links.begin(), links.end(), [&](auto& l) { return l.name == name; });
    return it == links.end() ? nullptr : &*it;
}

// What the kernel would do with each operation, strictly: an operation on a link that is not
// there, or making one that is, fails the test.
std::vector<link_state> apply_fake(std::vector<link_state> links, const std::vector<op>& ops) {
    int next_index = 100;
    for (const auto& o : ops) {
        CAPTURE(to_string(o));
        auto* l = find(links, o.link);
        switch (o.kind) {
        case op_kind::create_bridge:
            REQUIRE(!l);
            links.push_back(link(o.link, "bridge", next_index++, 0, false, o.mtu));
            break;
        case op_kind::create_port: {
            REQUIRE(!l);
            REQUIRE(o.port);
            auto* b = find(links, o.master);
            REQUIRE(b);
            REQUIRE(b->kind == "bridge");
            links.push_back(link(o.link, "veth", next_index++, b->index, true, o.port->mtu));
            break;
        }
        case op_kind::add_address:
            REQUIRE(l);
            REQUIRE(std::find(l->addresses.begin(), l->addresses.end(), o.address) ==
                    l->addresses.end());
            l->addresses.push_back(o.address);
            break;
        case op_kind::set_mtu:
            REQUIRE(l);
            l->mtu = o.mtu;
            break;
        case op_kind::set_up:
            REQUIRE(l);
            l->up = true;
            break;
        case op_kind::set_master: {
            REQUIRE(l);
            auto* b = find(links, o.master);
            REQUIRE(b);
            l->master = b->index;
            break;
        }
        case op_kind::delete_link: {
            REQUIRE(l);
            int gone = l->index;
            links.erase(links.begin() + (l - links.data()));
            for (auto& other : links) // a bridge's ports outlive it, detached
                if (other.master == gone) other.master = 0;
            break;
        }
        }
    }
    return links;
}

bool is_bridge_of(const desired_state& d, const std::string& name) {
    return std::any_of(d.bridges.begin(), d.bridges.end(), [&](auto& b) { return b.name == name; });
}
bool is_port_of(const desired_state& d, const std::string& name) {
    return std::any_of(d.ports.begin(), d.ports.end(), [&](auto& p) { return p.host_if == name; });
}

// What must hold for any desired and observed state.
void check_invariants(const desired_state& d, const std::vector<link_state>& observed) {
    auto ops = plan(d, observed);
    CAPTURE(lines(ops));
    // Never anything but ours: a desired link, or a link with the owned prefix.
    for (const auto& o : ops) {
        bool ours = is_bridge_of(d, o.link) || is_port_of(d, o.link) ||
                    (!d.owned_prefix.empty() && o.link.starts_with(d.owned_prefix));
        CHECK(ours);
        for (const auto& f : foreign())
            CHECK(o.link != f.name);
    }
    // Bridges, then ports, then leftovers.
    int phase = 0;
    for (const auto& o : ops) {
        int p = is_bridge_of(d, o.link) ? 0 : is_port_of(d, o.link) ? 1 : 2;
        CHECK(p >= phase);
        phase = p;
    }
    // Converges in one round.
    auto after = apply_fake(observed, ops);
    CHECK(lines(plan(d, after)) == "");
    // Leftovers are all gone, and nothing else is.
    auto owned = [&](const std::string& name) {
        return !d.owned_prefix.empty() && name.starts_with(d.owned_prefix);
    };
    for (const auto& l : observed)
        if (!owned(l.name) || is_port_of(d, l.name) || is_bridge_of(d, l.name))
            CHECK(find(after, l.name));
    for (const auto& l : after)
        if (owned(l.name)) CHECK((is_port_of(d, l.name) || is_bridge_of(d, l.name)));
}

struct row {
    std::string name;
    desired_state desired;
    std::vector<link_state> observed;
    std::vector<std::string> expected;
};

std::vector<row> table() {
    auto no_prefix = lab();
    no_prefix.owned_prefix = "";
    auto two = lab();
    two.bridges.push_back(bridge("ctr1", "10.89.0.1/24", 9000));
    two.ports.push_back(port("db", "vctrdb", "10.89.0.2/24", "ctr1", 9000));
    auto owned_bridge = lab();
    owned_bridge.bridges[0].name = "vctrbr";
    for (auto& p : owned_bridge.ports)
        p.bridge = "vctrbr";
    auto web1_only = lab();
    web1_only.ports.pop_back();

    return {
        {"nothing desired, nothing of ours", {{}, {}, prefix}, foreign(), {}},
        {"nothing desired, leftovers go",
         {{}, {}, prefix},
         with(foreign(), {link("vctrold", "veth", 20), link("vctr", "veth", 21)}),
         {"delete link vctrold", "delete link vctr"}},
        {"a fresh host",
         lab(),
         foreign(),
         {"create bridge ctr0 mtu 1500", "add address 10.88.0.1/24 to ctr0", "set ctr0 up",
          "create port vctrweb1 for web-1 on ctr0 with 10.88.0.2/24",
          "create port vctrweb2 for web-2 on ctr0 with 10.88.0.3/24"}},
        {"everything in place", lab(), with(foreign(), {ctr0_ok, web1_ok, web2_ok}), {}},
        {"an adopted bridge gets the gateway; its other addresses stay",
         lab(),
         with(foreign(),
              {link("ctr0", "bridge", 10, 0, true, 1500, {"192.168.7.1/24"}), web1_ok, web2_ok}),
         {"add address 10.88.0.1/24 to ctr0"}},
        {"the gateway with another prefix is not the gateway",
         lab(),
         with(foreign(),
              {link("ctr0", "bridge", 10, 0, true, 1500, {"10.88.0.1/16"}), web1_ok, web2_ok}),
         {"add address 10.88.0.1/24 to ctr0"}},
        {"bridge mtu",
         lab(),
         with(foreign(),
              {link("ctr0", "bridge", 10, 0, true, 9000, {"10.88.0.1/24"}), web1_ok, web2_ok}),
         {"set mtu 1500 on ctr0"}},
        {"bridge down",
         lab(),
         with(foreign(),
              {link("ctr0", "bridge", 10, 0, false, 1500, {"10.88.0.1/24"}), web1_ok, web2_ok}),
         {"set ctr0 up"}},
        {"bridge wrong in every way, adopted all the same",
         lab(),
         with(foreign(), {link("ctr0", "bridge", 10, 0, false, 1400), web1_ok, web2_ok}),
         {"add address 10.88.0.1/24 to ctr0", "set mtu 1500 on ctr0", "set ctr0 up"}},
        {"bridge deleted by hand: made again and the ports rejoin it",
         lab(),
         with(foreign(), {link("vctrweb1", "veth", 11), link("vctrweb2", "veth", 12)}),
         {"create bridge ctr0 mtu 1500", "add address 10.88.0.1/24 to ctr0", "set ctr0 up",
          "attach vctrweb1 to ctr0", "attach vctrweb2 to ctr0"}},
        {"a host veth deleted by hand",
         lab(),
         with(foreign(), {ctr0_ok, web2_ok}),
         {"create port vctrweb1 for web-1 on ctr0 with 10.88.0.2/24"}},
        {"a host veth set down",
         lab(),
         with(foreign(), {ctr0_ok, link("vctrweb1", "veth", 11, 10, false), web2_ok}),
         {"set vctrweb1 up"}},
        {"a host veth off its bridge, another on someone else's",
         lab(),
         with(foreign(), {ctr0_ok, link("vctrweb1", "veth", 11), link("vctrweb2", "veth", 12, 3)}),
         {"attach vctrweb1 to ctr0", "attach vctrweb2 to ctr0"}},
        {"a host veth with the wrong mtu",
         lab(),
         with(foreign(), {ctr0_ok, web1_ok, link("vctrweb2", "veth", 12, 10, true, 9000)}),
         {"set mtu 1500 on vctrweb2"}},
        {"a host veth wrong in every way",
         lab(),
         with(foreign(), {ctr0_ok, link("vctrweb1", "veth", 11, 0, false, 576), web2_ok}),
         {"attach vctrweb1 to ctr0", "set mtu 1500 on vctrweb1", "set vctrweb1 up"}},
        {"leftovers of a crashed run go last",
         lab(),
         with(foreign(), {link("vctrold1", "veth", 20, 10), link("vctrold2", "veth", 21, 0, false),
                          ctr0_ok, web2_ok}),
         {"create port vctrweb1 for web-1 on ctr0 with 10.88.0.2/24", "delete link vctrold1",
          "delete link vctrold2"}},
        {"a stopped container's veth goes, the others stay",
         web1_only,
         with(foreign(), {ctr0_ok, web1_ok, web2_ok}),
         {"delete link vctrweb2"}},
        {"an empty owned prefix owns nothing",
         no_prefix,
         with(foreign(), {ctr0_ok, web1_ok, web2_ok, link("vctrold1", "veth", 20)}),
         {}},
        {"a desired bridge named with the owned prefix is never a leftover",
         owned_bridge,
         with(foreign(),
              {link("vctrbr", "bridge", 10, 0, true, 1500, {"10.88.0.1/24"}), web1_ok, web2_ok}),
         {}},
        {"a bridge name held by someone's veth: that network is left alone",
         two,
         with(foreign(), {link("ctr0", "veth", 10)}),
         {"create bridge ctr1 mtu 9000", "add address 10.89.0.1/24 to ctr1", "set ctr1 up",
          "create port vctrdb for db on ctr1 with 10.89.0.2/24"}},
        {"an owned name held by something not a veth is replaced",
         lab(),
         with(foreign(), {ctr0_ok, link("vctrweb1", "dummy", 11), web2_ok}),
         {"delete link vctrweb1", "create port vctrweb1 for web-1 on ctr0 with 10.88.0.2/24"}},
        {"two networks, each with its mtu",
         two,
         with(foreign(), {ctr0_ok, web1_ok, web2_ok}),
         {"create bridge ctr1 mtu 9000", "add address 10.89.0.1/24 to ctr1", "set ctr1 up",
          "create port vctrdb for db on ctr1 with 10.89.0.2/24"}},
    };
}

} // namespace

TEST_CASE("plan: table") {
    for (const auto& r : table()) {
        CAPTURE(r.name);
        CHECK(lines(plan(r.desired, r.observed)) == shown(r.expected));
        check_invariants(r.desired, r.observed);
    }
}

TEST_CASE("plan: create_port carries the port, mtu and address") {
    auto d = lab();
    d.ports[0].netns_fd = 42;
    d.ports[0].mtu = 1400;
    auto ops = plan(d, with(foreign(), {ctr0_ok, web2_ok}));
    REQUIRE(ops.size() == 1);
    const auto& o = ops[0];
    CHECK(o.kind == op_kind::create_port);
    CHECK(o.link == "vctrweb1");
    CHECK(o.master == "ctr0");
    CHECK(o.mtu == 1400);
    CHECK(o.address == parse_cidr("10.88.0.2/24"));
    REQUIRE(o.port);
    CHECK(o.port->container == "web-1");
    CHECK(o.port->host_if == "vctrweb1");
    CHECK(o.port->bridge == "ctr0");
    CHECK(o.port->gateway == parse_ipv4("10.88.0.1"));
    CHECK(o.port->netns_fd == 42);
}

TEST_CASE("plan: the other operations carry what apply needs and no port") {
    auto ops = plan(lab(), foreign());
    REQUIRE(ops.size() == 5);
    CHECK(ops[0].kind == op_kind::create_bridge);
    CHECK(ops[0].mtu == 1500);
    CHECK(ops[1].kind == op_kind::add_address);
    CHECK(ops[1].address == parse_cidr("10.88.0.1/24"));
    CHECK(ops[2].kind == op_kind::set_up);
    for (int i : {0, 1, 2}) {
        CHECK(ops[i].link == "ctr0");
        CHECK_FALSE(ops[i].port);
    }
    auto attach = plan(lab(), with(foreign(), {ctr0_ok, link("vctrweb1", "veth", 11), web2_ok}));
    REQUIRE(attach.size() == 1);
    CHECK(attach[0].kind == op_kind::set_master);
    CHECK(attach[0].master == "ctr0");
    CHECK_FALSE(attach[0].port);
}

TEST_CASE("plan: conflicts name what plan leaves alone") {
    auto d = lab();
    CHECK(conflicts(d, with(foreign(), {ctr0_ok, web1_ok})).empty());
    CHECK(shown(conflicts(d, with(foreign(), {link("ctr0", "veth", 10)}))) ==
          "bridge ctr0 of network lab: the name is taken by a veth link");
    CHECK(shown(conflicts(d, with(foreign(), {link("ctr0", "", 10)}))) ==
          "bridge ctr0 of network lab: the name is taken by a device link");
    // A port name outside the owned prefix held by something else.
    d.ports[0].host_if = "web1";
    auto observed = with(foreign(), {ctr0_ok, link("web1", "dummy", 11), web2_ok});
    CHECK(shown(conflicts(d, observed)) ==
          "port web1 of container web-1: the name is taken by a dummy link");
    CHECK(lines(plan(d, observed)) == "");
}

// Every combination of a bridge's state and two ports' states, with and without leftovers.
TEST_CASE("plan: every combination converges in one round and touches only ours") {
    enum class b_state { missing, ok, no_address, mtu, down, all_wrong, taken };
    enum class p_state { missing, ok, detached, elsewhere, down, mtu, all_wrong, not_veth };
    auto bridge_link = [](b_state s) -> std::optional<link_state> {
        switch (s) {
        case b_state::missing:
            return std::nullopt;
        case b_state::ok:
            return ctr0_ok;
        case b_state::no_address:
            return link("ctr0", "bridge", 10);
        case b_state::mtu:
            return link("ctr0", "bridge", 10, 0, true, 1280, {"10.88.0.1/24"});
        case b_state::down:
            return link("ctr0", "bridge", 10, 0, false, 1500, {"10.88.0.1/24"});
        case b_state::all_wrong:
            return link("ctr0", "bridge", 10, 0, false, 1280, {"10.88.9.1/24"});
        case b_state::taken:
            return link("ctr0", "veth", 10);
        }
        return std::nullopt;
    };
    auto port_link = [](p_state s, std::string name, int index) -> std::optional<link_state> {
        switch (s) {
        case p_state::missing:
            return std::nullopt;
        case p_state::ok:
            return link(name, "veth", index, 10);
        case p_state::detached:
            return link(name, "veth", index);
        case p_state::elsewhere:
            return link(name, "veth", index, 3);
        case p_state::down:
            return link(name, "veth", index, 10, false);
        case p_state::mtu:
            return link(name, "veth", index, 10, true, 9000);
        case p_state::all_wrong:
            return link(name, "veth", index, 3, false, 9000);
        case p_state::not_veth:
            return link(name, "bridge", index);
        }
        return std::nullopt;
    };
    const auto all_p = {p_state::missing, p_state::ok,  p_state::detached,  p_state::elsewhere,
                        p_state::down,    p_state::mtu, p_state::all_wrong, p_state::not_veth};
    int combinations = 0;
    for (auto b : {b_state::missing, b_state::ok, b_state::no_address, b_state::mtu, b_state::down,
                   b_state::all_wrong, b_state::taken})
        for (auto p1 : all_p)
            for (auto p2 : all_p)
                for (bool leftovers : {false, true}) {
                    CAPTURE(static_cast<int>(b));
                    CAPTURE(static_cast<int>(p1));
                    CAPTURE(static_cast<int>(p2));
                    CAPTURE(leftovers);
                    auto observed = foreign();
                    for (auto l : {bridge_link(b), port_link(p1, "vctrweb1", 11),
                                   port_link(p2, "vctrweb2", 12)})
                        if (l) observed.push_back(*l);
                    if (leftovers)
                        observed = with(observed, {link("vctrold1", "veth", 20, 10),
                                                   link("vctrold2", "dummy", 21, 0, false)});
                    auto d = lab();
                    auto ops = plan(d, observed);
                    if (b == b_state::taken) {
                        // Nothing for the blocked network; only leftovers go.
                        for (const auto& o : ops)
                            CHECK(o.kind == op_kind::delete_link);
                        CHECK(ops.size() == (leftovers ? 2u : 0u));
                        CHECK(conflicts(d, observed).size() == 1);
                        continue;
                    }
                    CHECK(conflicts(d, observed).empty());
                    check_invariants(d, observed);
                    ++combinations;
                }
    CHECK(combinations == 6 * 8 * 8 * 2);
}

TEST_CASE("plan: to_string of each operation") {
    auto p = port("web-1", "vctrweb1", "10.88.0.2/24");
    CHECK(to_string(op{op_kind::create_bridge, "ctr0", {}, {}, 1500, std::nullopt}) ==
          "create bridge ctr0 mtu 1500");
    CHECK(to_string(
              op{op_kind::add_address, "ctr0", {}, parse_cidr("10.88.0.1/24"), 0, std::nullopt}) ==
          "add address 10.88.0.1/24 to ctr0");
    CHECK(to_string(op{op_kind::set_mtu, "ctr0", {}, {}, 9000, std::nullopt}) ==
          "set mtu 9000 on ctr0");
    CHECK(to_string(op{op_kind::set_up, "vctrweb1", {}, {}, 0, std::nullopt}) == "set vctrweb1 up");
    CHECK(to_string(op{op_kind::create_port, "vctrweb1", "ctr0", p.address, 1500, p}) ==
          "create port vctrweb1 for web-1 on ctr0 with 10.88.0.2/24");
    CHECK(to_string(op{op_kind::create_port, "vctrweb1", "ctr0", {}, 1500, std::nullopt}) ==
          "create port vctrweb1 on ctr0");
    CHECK(to_string(op{op_kind::set_master, "vctrweb1", "ctr0", {}, 0, std::nullopt}) ==
          "attach vctrweb1 to ctr0");
    CHECK(to_string(op{op_kind::delete_link, "vctrold", {}, {}, 0, std::nullopt}) ==
          "delete link vctrold");
}
