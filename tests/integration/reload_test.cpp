// Reload (ctrctl reload, SIGHUP): the supervisor re-reads its file and makes the difference, as
// `docker compose up` does after an edit. Traffic only crosses bridges this test made.
#include "harness.hpp"
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "ctr/cgroup/probe.hpp"
#include "ctr/cgroup/tree.hpp"

using namespace ctr::test;

namespace {

std::string box(const std::string& name, const std::string& command,
                const std::string& extra = "") {
    return fmt::format("[container {}]\nrootfs = @ROOTFS@\ncommand = {}\n{}\n", name, command,
                       extra);
}

pid_t pid_of(lab& l, const std::string& name) {
    auto st = l.status(name);
    return st.is_null() || st["pid"].is_null() ? 0 : st["pid"].get<pid_t>();
}

bool in_ps(lab& l, const std::string& name) {
    for (auto& c : l.ps())
        if (c["name"] == name) return true;
    return false;
}

// Until `done()` holds, or `limit` passed.
template <typename Pred> bool eventually(Pred done, std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(50ms);
    }
    return true;
}

std::string host_if_of(lab& l, const std::string& name) {
    auto r = l.ctl({"net", "--json"});
    for (auto& n : nlohmann::json::parse(r.out))
        for (auto& c : n["containers"])
            if (c["name"] == name) return c["interface"];
    return {};
}

std::vector<fs::path> cgroup_dirs_of(const lab& l, const std::string& name) {
    std::vector<fs::path> out;
    for (const auto& h : ctr::cgroup::probe_host().hierarchies)
        out.push_back(h.dir / ctr::cgroup::parent_for(l.state_dir) / name);
    return out;
}

const std::string sleeper = "sleep 1000";

} // namespace

TEST_CASE("reload: an added container runs, a removed one is gone with everything it held, a "
          "changed one restarts with its new command, an unchanged one keeps its pid") {
    CTR_REQUIRE_ROOT();
    auto net = unique_network();
    auto before = net.ini("n") + box("keep", sleeper, "network = n") +
                  box("gone", sleeper, "network = n") +
                  box("cmd", "sh -c 'echo one > /v; exec sleep 1000'");
    lab l(before);
    REQUIRE(l.start());
    CAPTURE(l.log());
    REQUIRE(l.wait_state("running", {"keep", "gone", "cmd"}));
    pid_t keep_pid = pid_of(l, "keep");
    auto gone_if = host_if_of(l, "gone");
    REQUIRE(!gone_if.empty());
    CHECK(!links_mentioning(gone_if + "@").empty());
    auto hosts = l.ctl({"exec", "keep", "--", "cat", "/etc/hosts"});
    CHECK(hosts.out.find("gone") != std::string::npos);
    CHECK(hosts.out.find("new") == std::string::npos);
    auto gone_dir = l.state_dir / "containers" / "gone";
    CHECK(fs::exists(gone_dir));

    // A follower of the removed container's log must end, not hang or touch freed memory.
    run_result follow;
    std::thread follower([&] { follow = l.ctl({"logs", "-f", "gone"}, 20s); });
    std::this_thread::sleep_for(300ms);

    l.rewrite(net.ini("n") + box("keep", sleeper, "network = n") +
              box("cmd", "sh -c 'echo two > /v; exec sleep 1000'") +
              box("new", sleeper, "network = n"));
    auto r = l.reload();
    follower.join();
    CAPTURE(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("added: new") != std::string::npos);
    CHECK(r.out.find("removed: gone") != std::string::npos);
    CHECK(r.out.find("recreated: cmd") != std::string::npos);
    CHECK(follow.err.find("removed") != std::string::npos);

    // The reload answered once its starts ran.
    CHECK(l.status("new")["state"] == "running");
    CHECK(l.status("cmd")["state"] == "running");
    CHECK(!in_ps(l, "gone"));
    CHECK(l.status("gone").is_null());
    CHECK(pid_of(l, "keep") == keep_pid);
    CHECK(read_text(l.upper("cmd") / "v") == "two\n");
    // Its port went with its namespace, its lease with its definition, its cgroup and overlay.
    CHECK(eventually([&] { return links_mentioning(gone_if + "@").empty(); }));
    auto leases = read_text(l.state_dir / "networks" / "n.leases.json");
    CHECK(leases.find("\"new\"") != std::string::npos);
    CHECK(leases.find("\"gone\"") == std::string::npos);
    for (auto& d : cgroup_dirs_of(l, "gone"))
        CHECK(!fs::exists(d));
    CHECK(!fs::exists(gone_dir));
    CHECK(host_mounts_mentioning(gone_dir.string()).empty());
    CHECK(l.ctl({"start", "gone"}).code == 1);
    // The neighbour's /etc/hosts follows the new member set, without a restart.
    hosts = l.ctl({"exec", "keep", "--", "cat", "/etc/hosts"});
    CHECK(hosts.out.find("gone") == std::string::npos);
    CHECK(hosts.out.find("new") != std::string::npos);
    auto ping = l.ctl({"exec", "keep", "--", "ping", "-c", "1", "-W", "2", "new"});
    CHECK(ping.code == 0);

    // The same file again changes nothing.
    r = l.reload();
    CHECK(r.code == 0);
    CHECK(r.out.find("3 container(s) unchanged") != std::string::npos);
    CHECK(pid_of(l, "keep") == keep_pid);
    CHECK(l.stop() == 0);
    CHECK(links_mentioning(net.bridge + ":").empty());
}

TEST_CASE("reload: an invalid file is refused with its line and nothing changes") {
    CTR_REQUIRE_ROOT();
    lab l(box("a", sleeper) + box("b", sleeper));
    REQUIRE(l.start());
    CAPTURE(l.log());
    REQUIRE(l.wait_state("running", {"a", "b"}));
    pid_t a = pid_of(l, "a"), b = pid_of(l, "b");
    // b removed, a changed, c added: none of it may happen.
    l.rewrite(box("a", "sleep 2000") + box("c", sleeper, "comand = x"));
    auto r = l.reload();
    CHECK(r.code == 1);
    CHECK(r.err.find("test.ini:") != std::string::npos);
    CHECK(r.err.find("comand") != std::string::npos);
    CHECK(pid_of(l, "a") == a);
    CHECK(pid_of(l, "b") == b);
    CHECK(l.status("c").is_null());
    CHECK(l.log().find("reload of") != std::string::npos);
    CHECK(l.stop() == 0);
}

TEST_CASE("reload: a container stopped by hand stays stopped under its new definition") {
    CTR_REQUIRE_ROOT();
    lab l(box("a", "sh -c 'echo one > /v; exec sleep 1000'"));
    REQUIRE(l.start());
    CAPTURE(l.log());
    REQUIRE(l.wait_state("running", {"a"}));
    REQUIRE(l.ctl({"stop", "a"}).code == 0);
    l.rewrite(box("a", "sh -c 'echo two > /v; exec sleep 1000'"));
    auto r = l.reload();
    CHECK(r.code == 0);
    CHECK(r.out.find("recreated: a") != std::string::npos);
    std::this_thread::sleep_for(300ms);
    CHECK(l.status("a")["state"] == "stopped");
    CHECK(read_text(l.upper("a") / "v") == "one\n");
    REQUIRE(l.ctl({"start", "a"}).code == 0);
    CHECK(eventually([&] { return read_text(l.upper("a") / "v") == "two\n"; }));
    CHECK(l.stop() == 0);
}

TEST_CASE("reload: a new network's containers ping each other by name; removing it removes its "
          "bridge") {
    CTR_REQUIRE_ROOT();
    lab l(box("x", sleeper));
    REQUIRE(l.start());
    CAPTURE(l.log());
    REQUIRE(l.wait_state("running", {"x"}));
    pid_t x = pid_of(l, "x");
    auto net = unique_network();
    auto pinger = [](const std::string& peer) {
        return fmt::format("sh -c 'until ping -c 1 -W 1 {0} > /ping; do sleep 0.1; done; "
                           "touch /done; exec sleep 1000'",
                           peer);
    };
    l.rewrite(box("x", sleeper) + net.ini("n") + box("a", pinger("b"), "network = n") +
              box("b", pinger("a"), "network = n"));
    auto r = l.reload();
    CAPTURE(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("networks added: n") != std::string::npos);
    CHECK(!links_mentioning(net.bridge + ":").empty());
    wait_for_file(l.upper("a") / "done");
    wait_for_file(l.upper("b") / "done");
    CHECK(read_text(l.upper("a") / "ping").find("1 packets received") != std::string::npos);
    CHECK(read_text(l.upper("b") / "ping").find("1 packets received") != std::string::npos);
    CHECK(pid_of(l, "x") == x);

    l.rewrite(box("x", sleeper));
    r = l.reload();
    REQUIRE(r.code == 0);
    CHECK(r.out.find("networks removed: n") != std::string::npos);
    CHECK(links_mentioning(net.bridge + ":").empty());
    CHECK(!in_ps(l, "a"));
    CHECK(!in_ps(l, "b"));
    CHECK(l.ctl({"net"}).out.find(net.bridge) == std::string::npos);
    CHECK(pid_of(l, "x") == x);
    CHECK(l.stop() == 0);
}

TEST_CASE("reload: SIGHUP does what ctrctl reload does") {
    CTR_REQUIRE_ROOT();
    lab l(box("a", sleeper) + box("b", sleeper));
    REQUIRE(l.start());
    CAPTURE(l.log());
    REQUIRE(l.wait_state("running", {"a", "b"}));
    pid_t a = pid_of(l, "a");
    l.rewrite(box("a", sleeper) + box("c", sleeper));
    REQUIRE(::kill(l.pid(), SIGHUP) == 0);
    // c does not exist until the reload made it: ctrctl wait would refuse the name.
    CHECK(eventually([&] {
        auto c = l.status("c");
        return !c.is_null() && c["state"] == "running";
    }));
    CHECK(eventually([&] { return !in_ps(l, "b"); }));
    CHECK(pid_of(l, "a") == a);
    CHECK(eventually([&] { return l.log().find("reloaded") != std::string::npos; }));
    CHECK(l.stop() == 0);
}

TEST_CASE("reload: two reloads at once run one after the other; none is refused") {
    CTR_REQUIRE_ROOT();
    lab l(box("a", sleeper));
    REQUIRE(l.start());
    CAPTURE(l.log());
    REQUIRE(l.wait_state("running", {"a"}));
    l.rewrite(box("a", "sleep 2000") + box("b", sleeper));
    run_result first, second;
    std::thread t1([&] { first = l.reload(); });
    std::thread t2([&] { second = l.reload(); });
    t1.join();
    t2.join();
    CHECK(first.code == 0);
    CHECK(second.code == 0);
    // One of them made the change, the other found nothing left to do.
    bool one_recreated = (first.out.find("recreated: a") != std::string::npos) !=
                         (second.out.find("recreated: a") != std::string::npos);
    CHECK(one_recreated);
    CHECK(l.status("a")["restarts"] == 0);
    CHECK(l.wait_state("running", {"a", "b"}));
    CHECK(l.stop() == 0);
}

TEST_CASE("reload: a changed subnet rebuilds the network and recreates its members on it") {
    CTR_REQUIRE_ROOT();
    auto first = unique_network(), second = unique_network();
    auto on = [](const test_network& subnet_of) {
        return fmt::format("[network n]\nbridge = {}\nsubnet = {}\n\n", "@BRIDGE@",
                           subnet_of.subnet);
    };
    auto file = [&](const test_network& subnet_of) {
        auto text = on(subnet_of);
        text.replace(text.find("@BRIDGE@"), 8, first.bridge);
        return text + box("a", sleeper, "network = n") + box("b", sleeper, "network = n") +
               box("off", sleeper);
    };
    lab l(file(first));
    REQUIRE(l.start());
    CAPTURE(l.log());
    REQUIRE(l.wait_state("running", {"a", "b", "off"}));
    pid_t off = pid_of(l, "off");
    CHECK(l.status("a")["ip"].get<std::string>().starts_with(first.prefix));

    l.rewrite(file(second));
    auto r = l.reload();
    CAPTURE(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("networks rebuilt: n") != std::string::npos);
    CHECK(r.out.find("recreated: a, b") != std::string::npos);
    CHECK(l.status("a")["ip"].get<std::string>().starts_with(second.prefix));
    CHECK(l.status("b")["ip"].get<std::string>().starts_with(second.prefix));
    CHECK(pid_of(l, "off") == off);
    auto ping = l.ctl({"exec", "a", "--", "ping", "-c", "1", "-W", "2", "b"});
    CHECK(ping.code == 0);
    CHECK(l.stop() == 0);
    CHECK(links_mentioning(first.bridge + ":").empty());
}

TEST_CASE("reload: a container whose leased address becomes another's static one is recreated") {
    CTR_REQUIRE_ROOT();
    auto net = unique_network();
    lab l(net.ini("n") + box("a", sleeper, "network = n"));
    REQUIRE(l.start());
    CAPTURE(l.log());
    REQUIRE(l.wait_state("running", {"a"}));
    auto leased = l.status("a")["ip"].get<std::string>();
    l.rewrite(net.ini("n") + box("a", sleeper, "network = n") +
              box("b", sleeper, "network = n\nip = " + leased));
    auto r = l.reload();
    CAPTURE(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("recreated: a") != std::string::npos);
    CHECK(l.status("b")["ip"] == leased);
    CHECK(l.status("a")["ip"] != leased);
    CHECK(l.status("a")["state"] == "running");
    CHECK(l.ctl({"exec", "a", "--", "ping", "-c", "1", "-W", "2", "b"}).code == 0);
    CHECK(l.stop() == 0);
}
