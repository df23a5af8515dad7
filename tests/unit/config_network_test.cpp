// [network NAME] sections and the containers' network and ip keys.
#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "ctr/config/config.hpp"

using namespace ctr::config;

namespace {

std::string error_of(std::string_view text) {
    try {
        parse(text, "conf/lab.ini", false);
    } catch (const config_error& e) {
        return e.what();
    }
    return "no error";
}

config parsed(std::string_view text) {
    return parse(text, "conf/lab.ini", false);
}

// Line 1..3: a network on 10.88.0.0/24 with the default gateway 10.88.0.1.
const std::string lab = "[network lab]\nbridge = ctr0\nsubnet = 10.88.0.0/24\n";

// A container section of 3 lines plus `extra` (which starts on its 4th line).
std::string box(std::string_view name, std::string_view extra) {
    return "[container " + std::string(name) + "]\nrootfs = /r\ncommand = x\n" + std::string(extra);
}

} // namespace

TEST_CASE("config network: every key") {
    auto cfg = parsed("[network lab]\n"
                      "bridge = br-lab\n"
                      "subnet = 10.88.0.0/16\n"
                      "gateway = 10.88.255.254\n"
                      "mtu = 9000\n"
                      "nat = yes\n" +
                      box("web", "network = lab\nip = 10.88.0.5\n"));
    REQUIRE(cfg.networks.size() == 1);
    const auto& n = cfg.networks[0];
    CHECK(n.name == "lab");
    CHECK(n.line == 1);
    CHECK(n.bridge == "br-lab");
    CHECK(n.subnet == "10.88.0.0/16");
    CHECK(n.gateway == "10.88.255.254");
    CHECK(n.mtu == 9000);
    CHECK(n.nat);
    REQUIRE(cfg.containers.size() == 1);
    CHECK(cfg.containers[0].network == "lab");
    CHECK(cfg.containers[0].ip == "10.88.0.5");
}

TEST_CASE("config network: defaults") {
    auto cfg = parsed(lab + box("web", "network = lab\n") + box("solo", ""));
    REQUIRE(cfg.networks.size() == 1);
    const auto& n = cfg.networks[0];
    CHECK(n.gateway == "10.88.0.1"); // the subnet's first host
    CHECK(n.mtu == 1500);
    CHECK_FALSE(n.nat);
    REQUIRE(cfg.containers.size() == 2);
    CHECK(cfg.containers[0].ip == "auto");
    // Without a network: loopback only.
    CHECK(cfg.containers[1].network.empty());
    CHECK(cfg.containers[1].ip.empty());
    CHECK(parsed(box("web", "")).networks.empty());
}

TEST_CASE("config network: several networks in file order, named before or after use") {
    auto cfg = parsed(box("web", "network = back\nip = auto\n") + lab +
                      "[network back]\nbridge = ctr1\nsubnet = 10.89.0.0/30\n" +
                      box("db", "network = back\nip = 10.89.0.2\n"));
    REQUIRE(cfg.networks.size() == 2);
    CHECK(cfg.networks[0].name == "lab");
    CHECK(cfg.networks[1].name == "back");
    CHECK(cfg.networks[1].gateway == "10.89.0.1");
    CHECK(cfg.networks[1].line == 9);
    CHECK(cfg.containers[0].network == "back");
    CHECK(cfg.containers[0].ip == "auto");
    CHECK(cfg.containers[1].ip == "10.89.0.2");
}

TEST_CASE("config network: replicas share the network; auto addresses are fine") {
    auto cfg = parsed(lab + box("web", "network = lab\nreplicas = 3\n"));
    REQUIRE(cfg.containers.size() == 3);
    for (const auto& c : cfg.containers) {
        CHECK(c.network == "lab");
        CHECK(c.ip == "auto");
    }
    // One replica may have a static address: it is one container.
    CHECK(parsed(lab + box("web", "network = lab\nip = 10.88.0.9\nreplicas = 1\n"))
              .containers[0]
              .ip == "10.88.0.9");
}

TEST_CASE("config network: missing and bad values") {
    CHECK(error_of("[network lab]\n") == "conf/lab.ini:1: missing key 'bridge' in [network lab]\n"
                                         "conf/lab.ini:1: missing key 'subnet' in [network lab]");
    auto bad = [](std::string_view key, std::string_view value) {
        return error_of(lab + std::string(key) + " = " + std::string(value) + "\n");
    };
    CHECK(bad("mtu", "575") == "conf/lab.ini:4: bad mtu '575' in [network lab]: expected a whole "
                               "number from 576 to 9000");
    CHECK(bad("mtu", "9001") == "conf/lab.ini:4: bad mtu '9001' in [network lab]: expected a whole "
                                "number from 576 to 9000");
    CHECK(bad("mtu", "1500b") == "conf/lab.ini:4: bad mtu '1500b' in [network lab]: expected a "
                                 "whole number from 576 to 9000");
    CHECK(bad("nat", "maybe") == "conf/lab.ini:4: bad nat 'maybe' in [network lab]: expected "
                                 "true/false, yes/no, 1/0 or on/off");
    CHECK(bad("gateway", "10.88.0.256") ==
          "conf/lab.ini:4: bad gateway '10.88.0.256' in [network lab]: octet 256 is above 255");
    CHECK(bad("colour", "blue") == "conf/lab.ini:4: unknown key 'colour' in [network lab]");
    CHECK(bad("bridge", "ctr1") ==
          "conf/lab.ini:4: duplicate key 'bridge' in [network lab] (first at line 2)");
    CHECK(parsed(lab + "mtu = 576\n").networks[0].mtu == 576);
    CHECK(parsed(lab + "mtu = 9000\nnat = off\n").networks[0].mtu == 9000);
}

TEST_CASE("config network: bridge names the kernel would refuse") {
    auto bridge = [](std::string_view name) {
        return error_of("[network lab]\nbridge = " + std::string(name) +
                        "\nsubnet = 10.88.0.0/24\n");
    };
    CHECK(bridge(std::string(15, 'b')) == "no error");
    CHECK(bridge(std::string(16, 'b')) == "conf/lab.ini:2: bad bridge '" + std::string(16, 'b') +
                                              "' in [network lab]: longer than 15 characters "
                                              "(the kernel's limit)");
    CHECK(bridge("br/0") == "conf/lab.ini:2: bad bridge 'br/0' in [network lab]: contains '/'");
    CHECK(bridge("br:0") == "conf/lab.ini:2: bad bridge 'br:0' in [network lab]: contains ':'");
    CHECK(bridge("br 0") == "conf/lab.ini:2: bad bridge 'br 0' in [network lab]: contains a "
                            "space, a control byte or non-ASCII");
    CHECK(bridge("..") ==
          "conf/lab.ini:2: bad bridge '..' in [network lab]: '.' and '..' are not interface names");
    CHECK(bridge("") == "conf/lab.ini:2: bad bridge '' in [network lab]: empty");
}

TEST_CASE("config network: subnets") {
    auto subnet = [](std::string_view s) {
        return error_of("[network lab]\nbridge = ctr0\nsubnet = " + std::string(s) + "\n");
    };
    CHECK(subnet("10.88.0.0/24") == "no error");
    CHECK(subnet("10.0.0.0/8") == "no error");
    CHECK(subnet("10.88.0.4/30") == "no error");
    CHECK(subnet("10.88.0.0/31") == "conf/lab.ini:3: bad subnet '10.88.0.0/31' in [network lab]: "
                                    "prefix /31 is outside /8 to /30 (a subnet needs a gateway and "
                                    "a host)");
    CHECK(subnet("10.0.0.0/7") == "conf/lab.ini:3: bad subnet '10.0.0.0/7' in [network lab]: "
                                  "prefix /7 is outside /8 to /30 (a subnet needs a gateway and a "
                                  "host)");
    CHECK(subnet("10.88.0.1/24") == "conf/lab.ini:3: bad subnet '10.88.0.1/24' in [network lab]: "
                                    "host bits are set; the subnet is 10.88.0.0/24");
    CHECK(subnet("10.88.0.0") == "conf/lab.ini:3: bad subnet '10.88.0.0' in [network lab]: "
                                 "expected ADDRESS/PREFIX, like 10.88.0.0/24");
    CHECK(subnet("10.88.0.0/24x") == "conf/lab.ini:3: bad subnet '10.88.0.0/24x' in [network "
                                     "lab]: the prefix must be a whole number from 0 to 32");
    CHECK(subnet("010.88.0.0/24") == "conf/lab.ini:3: bad subnet '010.88.0.0/24' in [network "
                                     "lab]: octet '010' has a leading zero");
}

TEST_CASE("config network: the gateway must be a host of the subnet") {
    auto gateway = [](std::string_view g) {
        return error_of(lab + "gateway = " + std::string(g) + "\n");
    };
    CHECK(gateway("10.88.0.254") == "no error");
    CHECK(gateway("10.88.0.77") == "no error");
    CHECK(gateway("10.89.0.1") ==
          "conf/lab.ini:4: bad gateway '10.89.0.1' in [network lab]: outside 10.88.0.0/24");
    CHECK(gateway("10.88.0.0") == "conf/lab.ini:4: bad gateway '10.88.0.0' in [network lab]: the "
                                  "network address of 10.88.0.0/24");
    CHECK(gateway("10.88.0.255") == "conf/lab.ini:4: bad gateway '10.88.0.255' in [network lab]: "
                                    "the broadcast address of 10.88.0.0/24");
}

TEST_CASE("config network: section names") {
    CHECK(error_of("[network a/b]\nbridge = ctr0\nsubnet = 10.88.0.0/24\n") ==
          "conf/lab.ini:1: invalid network name 'a/b': contains '/'; only letters, digits, '_', "
          "'.' and '-' are allowed");
    CHECK(error_of(lab + "[network lab]\nbridge = ctr1\nsubnet = 10.89.0.0/24\n") ==
          "conf/lab.ini:4: duplicate section [network lab] (first at line 1)");
    // Only [network NAME] is a section kind; its keys are not reported one by one.
    CHECK(error_of("[network]\nbridge = ctr0\n") == "conf/lab.ini:1: unknown section [network]");
}

TEST_CASE("config network: two networks may share neither a bridge nor addresses") {
    CHECK(error_of(lab + "[network b]\nbridge = ctr0\nsubnet = 10.89.0.0/24\n") ==
          "conf/lab.ini:5: bad bridge 'ctr0' in [network b]: already the bridge of [network lab] "
          "(line 2)");
    CHECK(error_of(lab + "[network b]\nsubnet = 10.88.0.0/17\nbridge = ctr1\n") ==
          "conf/lab.ini:5: bad subnet '10.88.0.0/17' in [network b]: overlaps 10.88.0.0/24 of "
          "[network lab] (line 3)");
    CHECK(error_of(lab + "[network b]\nbridge = ctr1\nsubnet = 10.0.0.0/8\n") ==
          "conf/lab.ini:6: bad subnet '10.0.0.0/8' in [network b]: overlaps 10.88.0.0/24 of "
          "[network lab] (line 3)");
    CHECK(error_of(lab + "[network b]\nbridge = ctr0\nsubnet = 10.88.0.0/24\n") ==
          "conf/lab.ini:5: bad bridge 'ctr0' in [network b]: already the bridge of [network lab] "
          "(line 2)\n"
          "conf/lab.ini:6: bad subnet '10.88.0.0/24' in [network b]: overlaps 10.88.0.0/24 of "
          "[network lab] (line 3)");
    // Neighbours are fine.
    CHECK(error_of(lab + "[network b]\nbridge = ctr1\nsubnet = 10.88.128.0/17\n") == "no error");
    CHECK(error_of(lab + "[network b]\nbridge = ctr1\nsubnet = 10.88.1.0/24\n" +
                   "[network c]\nbridge = ctr2\nsubnet = 10.88.2.0/30\n") == "no error");
}

TEST_CASE("config network: a container names an existing network") {
    CHECK(error_of(lab + box("web", "network = lan\n")) ==
          "conf/lab.ini:7: bad network 'lan' in [container web]: there is no [network lan] "
          "section");
    CHECK(error_of(box("web", "network = a b\nip = 10.88.0.5\n")) ==
          "conf/lab.ini:4: bad network 'a b' in [container web]: contains ' '; only letters, "
          "digits, '_', '.' and '-' are allowed");
    // A broken [network] has its own message; its containers add none.
    CHECK(
        error_of("[network lab]\nbridge = ctr0\n" + box("web", "network = lab\nip = 1.2.3.4\n")) ==
        "conf/lab.ini:1: missing key 'subnet' in [network lab]");
}

TEST_CASE("config network: ip") {
    CHECK(error_of(box("web", "ip = 10.88.0.5\n")) ==
          "conf/lab.ini:4: bad ip '10.88.0.5' in [container web]: there is no network key");
    CHECK(error_of(box("web", "ip = auto\n")) ==
          "conf/lab.ini:4: bad ip 'auto' in [container web]: there is no network key");
    CHECK(error_of(lab + box("web", "network = lab\nip = dhcp\n")) ==
          "conf/lab.ini:8: bad ip 'dhcp' in [container web]: expected auto or an IPv4 address "
          "like 10.88.0.5");
    CHECK(error_of(lab + box("web", "network = lab\nip = AUTO\n")) ==
          "conf/lab.ini:8: bad ip 'AUTO' in [container web]: expected auto or an IPv4 address "
          "like 10.88.0.5");
    CHECK(error_of(lab + box("web", "network = lab\nip = 10.88.0.300\n")) ==
          "conf/lab.ini:8: bad ip '10.88.0.300' in [container web]: octet 300 is above 255");
    CHECK(error_of(lab + box("web", "network = lab\nip = 10.88.0.5/24\n")) ==
          "conf/lab.ini:8: bad ip '10.88.0.5/24' in [container web]: expected four numbers "
          "separated by dots, like 10.88.0.1");
}

TEST_CASE("config network: static addresses are hosts of the subnet other than the gateway") {
    auto ip = [](std::string_view a, std::string_view net = lab) {
        return error_of(std::string(net) +
                        box("web", "network = lab\nip = " + std::string(a) + "\n"));
    };
    CHECK(ip("10.88.0.2") == "no error");
    CHECK(ip("10.88.0.254") == "no error");
    CHECK(ip("10.89.0.5") == "conf/lab.ini:8: bad ip '10.89.0.5' in [container web]: outside "
                             "10.88.0.0/24 of [network lab]");
    CHECK(ip("10.88.0.0") == "conf/lab.ini:8: bad ip '10.88.0.0' in [container web]: the network "
                             "address of [network lab]");
    CHECK(ip("10.88.0.255") == "conf/lab.ini:8: bad ip '10.88.0.255' in [container web]: the "
                               "broadcast address of [network lab]");
    CHECK(ip("10.88.0.1") == "conf/lab.ini:8: bad ip '10.88.0.1' in [container web]: the gateway "
                             "of [network lab]");
    // An explicit gateway moves the forbidden address with it.
    auto moved = lab + "gateway = 10.88.0.254\n";
    CHECK(ip("10.88.0.1", moved) == "no error");
    CHECK(ip("10.88.0.254", moved) == "conf/lab.ini:9: bad ip '10.88.0.254' in [container web]: "
                                      "the gateway of [network lab]");
}

TEST_CASE("config network: a static address is used once") {
    CHECK(error_of(lab + box("web", "network = lab\nip = 10.88.0.5\n") +
                   box("db", "network = lab\nip = 10.88.0.5\n")) ==
          "conf/lab.ini:13: bad ip '10.88.0.5' in [container db]: already the address of "
          "[container web] (line 8)");
    // Reported where it is given again, wherever the network stands.
    CHECK(error_of(box("web", "network = lab\nip = 10.88.0.5\n") +
                   box("db", "network = lab\nip = 10.88.0.5\n") + lab) ==
          "conf/lab.ini:10: bad ip '10.88.0.5' in [container db]: already the address of "
          "[container web] (line 5)");
    CHECK(error_of(lab + box("web", "network = lab\nip = 10.88.0.5\n") +
                   box("db", "network = lab\nip = 10.88.0.6\n")) == "no error");
}

TEST_CASE("config network: a static address cannot go to several replicas") {
    CHECK(error_of(lab + box("web", "network = lab\nip = 10.88.0.5\nreplicas = 3\n")) ==
          "conf/lab.ini:8: bad ip '10.88.0.5' in [container web]: a static address cannot go to "
          "3 replicas");
}

TEST_CASE("config network: every problem, in line order") {
    std::string text = "[container web]\n"       // 1
                       "rootfs = /r\n"           // 2
                       "command = x\n"           // 3
                       "network = lab\n"         // 4
                       "ip = 10.88.0.1\n"        // 5: the gateway
                       "[network lab]\n"         // 6
                       "bridge = ctr0\n"         // 7
                       "subnet = 10.88.0.0/24\n" // 8
                       "[network dup]\n"         // 9
                       "bridge = ctr0\n"         // 10: same bridge
                       "subnet = 10.89.0.0/24\n" // 11
                       "mtu = 100\n"             // 12: bad mtu
                       "[container db]\n"        // 13
                       "rootfs = /r\n"           // 14
                       "command = x\n"           // 15
                       "network = nowhere\n";    // 16: unknown network
    CHECK(error_of(text) ==
          "conf/lab.ini:5: bad ip '10.88.0.1' in [container web]: the gateway of [network lab]\n"
          "conf/lab.ini:12: bad mtu '100' in [network dup]: expected a whole number from 576 to "
          "9000\n"
          "conf/lab.ini:16: bad network 'nowhere' in [container db]: there is no [network "
          "nowhere] section");
}
