// The pure half of a reload: which containers and networks are added, removed, recreated or left
// alone, and which [supervisor] keys wait for a restart.
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "ctr/config/config.hpp"
#include "ctr/supervise/reload_plan.hpp"

using namespace ctr;
using supervise::plan_reload;
using names = std::vector<std::string>;

namespace {

config::config parsed(const std::string& text) {
    return config::parse(text, "/etc/ctr/lab.ini", false);
}

const std::string lab = "[network lab]\nbridge = ctr0\nsubnet = 10.88.0.0/24\n";

std::string box(const std::string& name, const std::string& extra = "",
                const std::string& command = "sleep 1000") {
    return "[container " + name + "]\nrootfs = /r\ncommand = " + command + "\n" + extra;
}

} // namespace

TEST_CASE("reload plan: start-up is a plan from nothing, everything added in file order") {
    auto cfg = parsed(lab + box("b", "network = lab\n") + box("a"));
    auto p = plan_reload({}, cfg);
    CHECK(p.containers.added == names{"b", "a"});
    CHECK(p.networks.added == names{"lab"});
    CHECK(p.containers.removed.empty());
    CHECK(p.containers.recreated.empty());
}

TEST_CASE("reload plan: the same file is no change, even with its sections moved") {
    auto before = parsed(lab + box("a") + box("b", "network = lab\n"));
    auto after = parsed("\n\n" + box("b", "network = lab\n") + box("a") + lab);
    auto p = plan_reload(before, after);
    CHECK(p.containers.unchanged == names{"b", "a"});
    CHECK(p.networks.unchanged == names{"lab"});
    CHECK(p.containers.added.empty());
    CHECK(p.containers.removed.empty());
    CHECK(p.containers.recreated.empty());
    CHECK(p.containers.updated.empty());
}

TEST_CASE("reload plan: added, removed and changed containers by name") {
    auto before = parsed(box("keep") + box("gone") + box("cmd") + box("env"));
    auto after =
        parsed(box("keep") + box("cmd", "", "sleep 2000") + box("env", "env = A=1\n") + box("new"));
    auto p = plan_reload(before, after);
    CHECK(p.containers.added == names{"new"});
    CHECK(p.containers.removed == names{"gone"});
    CHECK(p.containers.recreated == names{"cmd", "env"});
    CHECK(p.containers.unchanged == names{"keep"});
}

TEST_CASE("reload plan: any key of a definition recreates it") {
    for (std::string key : {"tty = true\n", "memory = 64M\n", "restart = always\n",
                            "hostname = other\n", "readonly_rootfs = true\n", "init = true\n",
                            "cap_drop = NET_RAW\n", "workdir = /tmp\n", "stdin = true\n"}) {
        CAPTURE(key);
        auto p = plan_reload(parsed(box("a")), parsed(box("a", key)));
        CHECK(p.containers.recreated == names{"a"});
    }
}

TEST_CASE("reload plan: a stop_timeout alone is updated in place, also when inherited") {
    auto before = parsed(box("own") + box("inherits"));
    auto after = parsed("[supervisor]\nstop_timeout = 3s\n" + box("own", "stop_timeout = 1s\n") +
                        box("inherits"));
    auto p = plan_reload(before, after);
    CHECK(p.containers.updated == names{"own", "inherits"});
    CHECK(p.containers.recreated.empty());
}

TEST_CASE("reload plan: a changed network is rebuilt with every member, old and new") {
    auto before = parsed(lab + box("on", "network = lab\n") + box("leaves", "network = lab\n") +
                         box("joins") + box("off"));
    auto after = parsed("[network lab]\nbridge = ctr0\nsubnet = 10.89.0.0/24\n" +
                        box("on", "network = lab\n") + box("leaves") +
                        box("joins", "network = lab\n") + box("off"));
    auto p = plan_reload(before, after);
    CHECK(p.networks.rebuilt == names{"lab"});
    CHECK(p.containers.recreated == names{"on", "leaves", "joins"});
    CHECK(p.containers.unchanged == names{"off"});
}

TEST_CASE("reload plan: each network key rebuilds it; new and removed networks") {
    for (std::string key : {"gateway = 10.88.0.254\n", "mtu = 1400\n", "nat = true\n"}) {
        CAPTURE(key);
        auto p = plan_reload(parsed(lab), parsed(lab + key));
        CHECK(p.networks.rebuilt == names{"lab"});
    }
    auto p = plan_reload(parsed(lab), parsed("[network other]\nbridge = ctr1\nsubnet = "
                                             "10.90.0.0/24\n"));
    CHECK(p.networks.added == names{"other"});
    CHECK(p.networks.removed == names{"lab"});
}

TEST_CASE("reload plan: a member's own ip change recreates only it") {
    auto before =
        parsed(lab + box("a", "network = lab\nip = 10.88.0.10\n") + box("b", "network = lab\n"));
    auto after =
        parsed(lab + box("a", "network = lab\nip = 10.88.0.11\n") + box("b", "network = lab\n"));
    auto p = plan_reload(before, after);
    CHECK(p.containers.recreated == names{"a"});
    CHECK(p.containers.unchanged == names{"b"});
    CHECK(p.networks.unchanged == names{"lab"});
}

TEST_CASE("reload plan: [supervisor] keys fixed at start-up keep their running value") {
    auto running = parsed("[supervisor]\nstate_dir = /run/a\nuserns_base = 100000\n" +
                          box("u", "userns = true\n"));
    running.sup.socket = "/tmp/override.sock"; // --socket
    auto incoming = parsed("[supervisor]\nstate_dir = /run/b\nsocket = /run/b.sock\n"
                           "socket_group = adm\nlog_max_size = 1M\nuserns_base = 200000\n" +
                           box("u", "userns = true\n"));
    auto fixed = supervise::keep_fixed_keys(running.sup, config::default_socket, incoming);
    // log_dir followed state_dir by default: it is fixed too.
    CHECK(fixed == names{"state_dir", "socket", "socket_group", "log_dir", "userns_base"});
    CHECK(incoming.sup.state_dir == "/run/a");
    CHECK(incoming.sup.socket == "/tmp/override.sock");
    CHECK(incoming.sup.socket_group.empty());
    CHECK(incoming.sup.log_max_size == 1u << 20); // applies at run time
    CHECK(incoming.containers[0].userns->base == 100000);
    CHECK(incoming.sup.log_dir == running.sup.log_dir);
    CHECK(plan_reload(running, incoming).containers.unchanged == names{"u"});
}

TEST_CASE("reload plan: the override keeps the socket when the file does not change it") {
    auto running = parsed(box("a"));
    running.sup.socket = "/tmp/override.sock";
    auto incoming = parsed(box("a"));
    CHECK(supervise::keep_fixed_keys(running.sup, config::default_socket, incoming).empty());
    CHECK(incoming.sup.socket == "/tmp/override.sock");
}
