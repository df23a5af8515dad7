// Containers on a bridge the supervisor reconciles: addresses, names, repair, and nothing left.
// Traffic only ever crosses a bridge and namespaces this test made.
#include "common/temp_dir.hpp"
#include "harness.hpp"
#include <set>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace ctr::test;

namespace {
int replies(const std::string& ping_output) {
    int n = 0;
    for (auto pos = ping_output.find("bytes from"); pos != std::string::npos;
         pos = ping_output.find("bytes from", pos + 1))
        ++n;
    return n;
}

// Waits until every file exists (containers write them when they got their answer).
bool all_exist(const std::vector<fs::path>& files, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (std::all_of(files.begin(), files.end(), [](auto& f) { return fs::exists(f); }))
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

void check_nothing_left(const test_network& net, const std::vector<std::string>& host_ifs) {
    CHECK(links_mentioning(net.bridge + ":").empty());
    for (auto& i : host_ifs)
        CHECK(links_mentioning(i + "@").empty());
}
} // namespace

TEST_CASE("two containers ping each other by address and by name; the first ping succeeds") {
    CTR_REQUIRE_ROOT();
    auto net = unique_network();
    auto script = [&](const std::string& peer_ip, const std::string& peer) {
        return fmt::format(
            "sh -c 'ping -c 1 -W 2 {0}1 > /first; "
            "until ping -c 1 -W 1 {1} >/dev/null; do sleep 0.1; done; "
            "ping -c 2 -W 2 {1} > /by-ip; ping -c 2 -W 2 {2} > /by-name; touch /done; "
            "exec sleep 1000'",
            net.prefix, peer_ip, peer);
    };
    lab l(net.ini("n") + fmt::format("[container a]\nrootfs = @ROOTFS@\nnetwork = n\nip = {0}10\n"
                                     "command = {1}\n\n"
                                     "[container b]\nrootfs = @ROOTFS@\nnetwork = n\nip = {0}11\n"
                                     "command = {2}\n",
                                     net.prefix, script(net.prefix + "11", "b"),
                                     script(net.prefix + "10", "a")));
    REQUIRE(l.start());
    CAPTURE(l.log());
    REQUIRE(all_exist({l.upper("a") / "done", l.upper("b") / "done"}, std::chrono::seconds(20)));
    for (auto name : {"a", "b"}) {
        CAPTURE(name);
        // Its network was ready before its command ran: the very first packet got an answer.
        CHECK(read_text(l.upper(name) / "first").find("1 packets received") != std::string::npos);
        CHECK(replies(read_text(l.upper(name) / "by-ip")) == 2);
        CHECK(replies(read_text(l.upper(name) / "by-name")) == 2);
    }
    CHECK(l.status("a")["ip"] == net.prefix + "10");
    auto netls = l.ctl({"net"});
    CHECK(netls.code == 0);
    CHECK(netls.out.find(net.bridge) != std::string::npos);
    CHECK(netls.out.find(net.prefix + "11") != std::string::npos);
    auto ports = links_mentioning("master " + net.bridge);
    CHECK(ports.size() == 2);
    CHECK(l.stop() == 0);
    check_nothing_left(net, {});
    CHECK(links_mentioning("master " + net.bridge).empty());
}

TEST_CASE("a container keeps its address across its restarts and the supervisor's") {
    CTR_REQUIRE_ROOT();
    auto net = unique_network();
    lab l(net.ini("n") + "[container x]\nrootfs = @ROOTFS@\nnetwork = n\nreplicas = 3\n"
                         "command = sh -c 'trap \"exit 0\" TERM; while true; do sleep 1; done'\n");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    std::map<std::string, std::string> before;
    for (auto& c : l.ps())
        before[c["name"]] = c["ip"];
    CHECK(before.size() == 3);
    REQUIRE(l.ctl({"restart", "x-2"}).code == 0);
    CHECK(l.status("x-2")["ip"] == before["x-2"]);

    // Killed outright, then started again on the same state dir: the same leases, no stale port,
    // no address twice.
    CHECK(l.stop(SIGKILL) == 128 + SIGKILL);
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    std::set<std::string> seen;
    for (auto& c : l.ps()) {
        CHECK(c["ip"] == before[c["name"]]);
        seen.insert(c["ip"].get<std::string>());
    }
    CHECK(seen.size() == 3);
    CHECK(links_mentioning("master " + net.bridge).size() == 3);
    CHECK(l.stop() == 0);
    check_nothing_left(net, {});
}

TEST_CASE("30 containers on one bridge all reach a neighbour by name") {
    CTR_REQUIRE_ROOT();
    auto net = unique_network();
    lab l(net.ini("n") +
          "[container w]\nrootfs = @ROOTFS@\nnetwork = n\nreplicas = 30\n"
          "command = sh -c 'n=${HOSTNAME#w-}; next=w-$((n % 30 + 1)); "
          "until ping -c 1 -W 1 $next >/dev/null; do sleep 0.2; done; touch /reached; "
          "trap \"exit 0\" TERM; while true; do sleep 1; done'\n");
    REQUIRE(l.start());
    std::vector<fs::path> marks;
    for (int i = 1; i <= 30; ++i)
        marks.push_back(l.upper(fmt::format("w-{}", i)) / "reached");
    CHECK(all_exist(marks, std::chrono::seconds(40)));
    CHECK(links_mentioning("master " + net.bridge).size() == 30);
    CHECK(l.stop() == 0);
    check_nothing_left(net, {});
}

TEST_CASE("a deleted bridge, a deleted port and a port set down are repaired; pings resume") {
    CTR_REQUIRE_ROOT();
    auto net = unique_network();
    lab l(net.ini("n") + fmt::format("[container a]\nrootfs = @ROOTFS@\nnetwork = n\nip = {0}10\n"
                                     "command = sh -c 'exec ping -i 0.1 {0}11 > /ping.log'\n\n"
                                     "[container b]\nrootfs = @ROOTFS@\nnetwork = n\nip = {0}11\n"
                                     "command = sleep 1000\n",
                                     net.prefix));
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    auto log = l.upper("a") / "ping.log";
    auto replies_after = [&](int base, std::chrono::seconds limit) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            if (replies(read_text(log)) >= base + 5) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    };
    REQUIRE(replies_after(0, std::chrono::seconds(10)));

    auto port_of_b = links_mentioning("master " + net.bridge);
    REQUIRE(port_of_b.size() == 2);
    for (const auto& breakage :
         {std::vector<std::string>{"/sbin/ip", "link", "del", net.bridge},
          std::vector<std::string>{"/sbin/ip", "link", "set", net.bridge, "down"}}) {
        CAPTURE(fmt::format("{}", fmt::join(breakage, " ")));
        REQUIRE(run(breakage).code == 0);
        int base = replies(read_text(log));
        CHECK(replies_after(base, std::chrono::seconds(5)));
    }
    // b's host end: found by its address in the supervisor's own listing.
    auto netjson = nlohmann::json::parse(l.ctl({"net", "--json"}).out);
    std::string b_if;
    for (auto& c : netjson[0]["containers"])
        if (c["name"] == "b") b_if = c["interface"];
    REQUIRE_FALSE(b_if.empty());
    REQUIRE(run({"/sbin/ip", "link", "del", b_if}).code == 0);
    int base = replies(read_text(log));
    CHECK(replies_after(base, std::chrono::seconds(5)));
    auto text = l.log();
    CHECK(text.find("repair: create bridge " + net.bridge) != std::string::npos);
    CHECK(text.find("repair: set " + net.bridge + " up") != std::string::npos);
    CHECK(text.find("repair: create port " + b_if) != std::string::npos);
    CHECK(l.stop() == 0);
    check_nothing_left(net, {b_if});
}

TEST_CASE("a full subnet fails only the container that finds it full") {
    CTR_REQUIRE_ROOT();
    auto net = unique_network();
    auto small = net.prefix + "0/29"; // .1 gateway, .2 to .6 for containers: five
    lab l(fmt::format("[network n]\nbridge = {}\nsubnet = {}\n\n", net.bridge, small) +
          "[container s]\nrootfs = @ROOTFS@\nnetwork = n\nreplicas = 6\n"
          "command = sh -c 'trap \"exit 0\" TERM; while true; do sleep 1; done'\n");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"s-1", "s-2", "s-3", "s-4", "s-5"}));
    REQUIRE(l.wait_state("failed", {"s-6"}));
    CHECK(l.status("s-6")["error"] == fmt::format("subnet {} exhausted", small));
    CHECK(l.stop() == 0);
    check_nothing_left(net, {});
}

TEST_CASE("nat = true adds a masquerade rule and forwarding, and removes both at shutdown") {
    CTR_REQUIRE_ROOT();
    // Only the rule's presence is checked: no packet is ever sent towards the uplink.
    auto net = unique_network();
    auto forward_before = read_text("/proc/sys/net/ipv4/ip_forward");
    lab l(net.ini("n", "nat = true") +
          "[container c]\nrootfs = @ROOTFS@\nnetwork = n\ncommand = sleep 1000\n");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    auto nets = nlohmann::json::parse(l.ctl({"net", "--json"}).out);
    auto table = nets[0]["nat_table"].get<std::string>();
    auto listed = run({"/usr/sbin/nft", "list", "table", "ip", table});
    CAPTURE(listed.out);
    CHECK(listed.code == 0);
    CHECK(listed.out.find("ip saddr " + net.subnet + " oifname != \"" + net.bridge +
                          "\" masquerade") != std::string::npos);
    CHECK(read_text("/proc/sys/net/ipv4/ip_forward") == "1\n");
    CHECK(l.stop() == 0);
    CHECK(run({"/usr/sbin/nft", "list", "table", "ip", table}).code != 0);
    CHECK(read_text("/proc/sys/net/ipv4/ip_forward") == forward_before);
    check_nothing_left(net, {});
}

TEST_CASE("an image of one static binary still gets its /etc/hosts; no image file is copied up") {
    CTR_REQUIRE_ROOT();
    auto net = unique_network();
    // Like a Docker image FROM scratch: no /etc, no shell, one static binary.
    temp_dir scratch("ctr-scratch");
    const fs::path& image = scratch.path;
    fs::create_directories(image / "bin");
    fs::copy_file(busybox_rootfs() / "bin" / "busybox", image / "bin" / "busybox");

    lab l(net.ini("n") +
          fmt::format("[container bare]\nrootfs = {0}\nnetwork = n\n"
                      "command = /bin/busybox sh -c 'busybox cat /etc/hosts > /seen; "
                      "exec busybox sleep 1000'\n\n"
                      "[container full]\nrootfs = @ROOTFS@\nnetwork = n\ncommand = {1}\n",
                      image.string(), "sh -c 'trap \"exit 0\" TERM; sleep 1000 & wait'"));
    REQUIRE(l.start());
    CAPTURE(l.log());
    REQUIRE(l.wait_state("running", {"bare", "full"}));
    auto seen = wait_for_file(l.upper("bare") / "seen", 2);
    CAPTURE(seen);
    CHECK(seen.find("\tbare\n") != std::string::npos);
    CHECK(seen.find("\tfull\n") != std::string::npos);
    // The folder and the mount point were made in the container's upper layer, not the image.
    CHECK(fs::is_directory(l.upper("bare") / "etc"));
    CHECK(!fs::exists(image / "etc"));
    // An image that has /etc/hosts keeps it in the lower layer: bound over, never copied up.
    CHECK(!fs::exists(l.upper("full") / "etc" / "hosts"));
    CHECK(l.stop() == 0);
}

namespace {
// The bridge's IPv4 addresses as `ip` prints them: "10.200.3.1/24".
std::set<std::string> addresses_of(const std::string& bridge) {
    std::set<std::string> out;
    std::istringstream words(run({"/sbin/ip", "-o", "-4", "addr", "show", "dev", bridge}).out);
    for (std::string w, last; words >> w; last = w)
        if (last == "inet") out.insert(w);
    return out;
}

// A bridge made here by hand, as someone else's would be, deleted again whatever happens; its
// config puts container `a` on it with the subnet of `subnet_of`.
struct foreign_bridge {
    test_network net = unique_network();
    foreign_bridge() {
        REQUIRE(run({"/sbin/ip", "link", "add", net.bridge, "type", "bridge"}).code == 0);
    }
    ~foreign_bridge() { run({"/sbin/ip", "link", "del", net.bridge}); }
    foreign_bridge(const foreign_bridge&) = delete;
    foreign_bridge& operator=(const foreign_bridge&) = delete;
    std::string config(const test_network& subnet_of) const {
        return fmt::format("[network n]\nbridge = {}\nsubnet = {}\n\n", net.bridge,
                           subnet_of.subnet) +
               "[container a]\nrootfs = @ROOTFS@\nnetwork = n\ncommand = sleep 1000\n";
    }
};
} // namespace

TEST_CASE("an adopted bridge gets the gateway, keeps its own address and is left as it was found, "
          "across a rebuild too") {
    CTR_REQUIRE_ROOT();
    foreign_bridge b;
    auto& first = b.net;
    auto second = unique_network(), own = unique_network();
    std::string theirs = own.prefix + "1/24";
    REQUIRE(run({"/sbin/ip", "addr", "add", theirs, "dev", first.bridge}).code == 0);
    lab l(b.config(first));
    REQUIRE(l.start());
    CAPTURE(l.log());
    REQUIRE(l.wait_state("running", {"a"}));
    CHECK(l.log().find("adopting existing bridge " + first.bridge) != std::string::npos);
    CHECK(addresses_of(first.bridge) == std::set<std::string>{first.prefix + "1/24", theirs});

    // A changed subnet rebuilds the network: the old gateway goes, the new one comes.
    l.rewrite(b.config(second));
    auto r = l.reload();
    CAPTURE(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("networks rebuilt: n") != std::string::npos);
    CHECK(addresses_of(first.bridge) == std::set<std::string>{second.prefix + "1/24", theirs});
    CHECK(l.status("a")["ip"].get<std::string>().starts_with(second.prefix));

    CHECK(l.stop() == 0);
    // Still there, with only what it had before the supervisor came.
    CHECK(links_mentioning(first.bridge + ":").size() == 1);
    CHECK(addresses_of(first.bridge) == std::set<std::string>{theirs});
}

TEST_CASE("a gateway that a killed run added to an adopted bridge is taken off by the next run") {
    CTR_REQUIRE_ROOT();
    foreign_bridge b;
    auto& first = b.net;
    auto second = unique_network();
    lab l(b.config(first));
    REQUIRE(l.start());
    CAPTURE(l.log());
    REQUIRE(l.wait_state("running", {"a"}));
    CHECK(addresses_of(first.bridge) == std::set<std::string>{first.prefix + "1/24"});
    CHECK(l.stop(SIGKILL) == 128 + SIGKILL);
    CHECK(addresses_of(first.bridge) == std::set<std::string>{first.prefix + "1/24"});

    l.rewrite(b.config(second));
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"a"}));
    CHECK(addresses_of(first.bridge) == std::set<std::string>{second.prefix + "1/24"});
    CHECK(l.stop() == 0);
    CHECK(links_mentioning(first.bridge + ":").size() == 1);
    CHECK(addresses_of(first.bridge).empty());
}
