// Restart policies, backoff, stop and its escalation, manual start/restart/kill, many at once.
#include "harness.hpp"
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace ctr::test;
using clock_type = std::chrono::steady_clock;

namespace {
const char* forever = "sh -c 'trap \"exit 0\" TERM; while true; do sleep 1; done'";

double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
}
} // namespace

TEST_CASE("on-failure restarts back off exponentially; exit 0 is final; 'no' never restarts") {
    CTR_REQUIRE_ROOT();
    lab l("[container crash]\nrootfs = @ROOTFS@\ncommand = sh -c 'exit 3'\nrestart = on-failure\n\n"
          "[container done]\nrootfs = @ROOTFS@\ncommand = true\nrestart = on-failure\n\n"
          "[container once]\nrootfs = @ROOTFS@\ncommand = sh -c 'exit 4'\nrestart = no\n");
    REQUIRE(l.start());
    auto began = clock_type::now();
    REQUIRE(l.wait_state("exited", {"done", "once"}));
    CHECK(l.status("done")["exit_code"] == 0);
    CHECK(l.status("once")["exit_code"] == 4);
    CHECK(l.status("once")["restarts"] == 0);

    // Delays 100, 200, 400, 800, 1600 ms: about 4 restarts by 2 s, not dozens.
    std::this_thread::sleep_for(std::chrono::milliseconds(2000) - (clock_type::now() - began));
    auto crash = l.status("crash");
    CAPTURE(crash.dump());
    CHECK(crash["exit_code"] == 3);
    CHECK(crash["restarts"].get<int>() >= 3);
    CHECK(crash["restarts"].get<int>() <= 5);
    CHECK(l.log().find("restarting in 800 ms") != std::string::npos);
}

TEST_CASE("'always' restarts a container that exited 0, and a stop by hand keeps it stopped") {
    CTR_REQUIRE_ROOT();
    lab l("[container loop]\nrootfs = @ROOTFS@\ncommand = sh -c 'sleep 0.2'\nrestart = always\n");
    REQUIRE(l.start());
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    CHECK(l.status("loop")["restarts"].get<int>() >= 2);
    REQUIRE(l.ctl({"stop", "loop"}).code == 0);
    auto restarts = l.status("loop")["restarts"];
    CHECK(l.status("loop")["state"] == "stopped");
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    CHECK(l.status("loop")["state"] == "stopped");
    CHECK(l.status("loop")["restarts"] == restarts);
    REQUIRE(l.ctl({"start", "loop"}).code == 0);
}

TEST_CASE("stop sends SIGTERM, and escalates to SIGKILL after the grace") {
    CTR_REQUIRE_ROOT();
    lab l(fmt::format("[container polite]\nrootfs = @ROOTFS@\ncommand = {}\n\n"
                      "[container stubborn]\nrootfs = @ROOTFS@\ncommand = sleep 1000\n"
                      "stop_timeout = 1s\n",
                      forever));
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));

    auto t = clock_type::now();
    REQUIRE(l.ctl({"stop", "polite"}).code == 0);
    CHECK(seconds_since(t) < 2.5); // the trap answers SIGTERM (at the next `sleep 1` at most)
    auto polite = l.status("polite");
    CHECK(polite["state"] == "stopped");
    CHECK(polite["exit_code"] == 0);

    // PID 1 without a SIGTERM handler ignores it: only SIGKILL ends it, after stop_timeout.
    t = clock_type::now();
    REQUIRE(l.ctl({"stop", "stubborn"}).code == 0);
    double took = seconds_since(t);
    CHECK(took >= 0.9);
    CHECK(took < 3.0);
    auto stubborn = l.status("stubborn");
    CHECK(stubborn["state"] == "stopped");
    CHECK(stubborn["signal"] == "SIGKILL");
    CHECK(stubborn["pid"].is_null());

    // --time overrides the grace for this stop.
    REQUIRE(l.ctl({"start", "stubborn"}).code == 0);
    t = clock_type::now();
    REQUIRE(l.ctl({"stop", "stubborn", "--time", "0.2"}).code == 0);
    CHECK(seconds_since(t) < 0.9);
}

TEST_CASE("restart gives a new process; kill delivers a signal and the policy applies") {
    CTR_REQUIRE_ROOT();
    lab l(fmt::format("[container svc]\nrootfs = @ROOTFS@\ncommand = {}\nrestart = on-failure\n",
                      forever));
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"svc"}));
    auto first = l.status("svc")["pid"].get<int>();
    REQUIRE(l.ctl({"restart", "svc"}).code == 0);
    auto after = l.status("svc");
    CHECK(after["state"] == "running");
    CHECK(after["pid"].get<int>() != first);
    CHECK(after["restarts"] == 0); // a manual restart is not a policy restart

    // SIGKILL is a failure: on-failure brings it back.
    auto second = after["pid"].get<int>();
    REQUIRE(l.ctl({"kill", "svc", "--signal", "KILL"}).code == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    REQUIRE(l.wait_state("running", {"svc"}));
    auto again = l.status("svc");
    CHECK(again["pid"].get<int>() != second);
    CHECK(again["restarts"] == 1);
    CHECK(again["signal"] == "SIGKILL");

    CHECK(l.ctl({"kill", "nosuch"}).code == 1);
    REQUIRE(l.ctl({"stop", "svc"}).code == 0);
    auto kill_stopped = l.ctl({"kill", "svc"});
    CHECK(kill_stopped.code == 1);
    CHECK(kill_stopped.err.find("not running") != std::string::npos);
}

TEST_CASE("wait returns 0 once the containers reach the state and 1 at the timeout") {
    CTR_REQUIRE_ROOT();
    lab l("[container short]\nrootfs = @ROOTFS@\ncommand = sleep 0.5\n");
    REQUIRE(l.start());
    CHECK(l.ctl({"wait", "--state", "exited", "--timeout", "10", "short"}).code == 0);
    auto t = clock_type::now();
    auto r = l.ctl({"wait", "--state", "running", "--timeout", "0.5", "short"});
    CHECK(r.code == 1);
    CHECK(r.err.find("short is exited") != std::string::npos);
    CHECK(seconds_since(t) < 3);
}

TEST_CASE("50 containers start together and stop together") {
    CTR_REQUIRE_ROOT();
    lab l(
        fmt::format("[container many]\nrootfs = @ROOTFS@\ncommand = {}\nreplicas = 50\n", forever));
    auto t = clock_type::now();
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}, std::chrono::seconds(60)));
    MESSAGE("50 containers running after " << seconds_since(t) << " s");
    auto ps = l.ps();
    REQUIRE(ps.size() == 50);
    std::vector<std::string> namespaces;
    for (auto& c : ps) {
        CHECK(c["state"] == "running");
        namespaces.push_back(ns_of(c["pid"].get<pid_t>(), "pid"));
    }
    t = clock_type::now();
    CHECK(l.stop(SIGTERM) == 0);
    MESSAGE("50 containers stopped after " << seconds_since(t) << " s");
    for (auto& ns : namespaces)
        CHECK(processes_in_pid_ns(ns).empty());
    CHECK_FALSE(fs::exists(l.state_dir / "containers"));
    CHECK_FALSE(fs::exists(l.socket));
}

TEST_CASE("a second SIGINT kills every container at once instead of waiting out the grace") {
    CTR_REQUIRE_ROOT();
    lab l("[container deaf]\nrootfs = @ROOTFS@\ncommand = sleep 1000\nreplicas = 3\n",
          "stop_timeout = 60s");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {}));
    std::vector<std::string> namespaces;
    for (auto& c : l.ps())
        namespaces.push_back(ns_of(c["pid"].get<pid_t>(), "pid"));
    ::kill(l.pid(), SIGINT);
    REQUIRE(l.wait_state("stopping", {}));
    auto t = clock_type::now();
    CHECK(l.stop(SIGINT, std::chrono::seconds(10)) == 0);
    CHECK(seconds_since(t) < 5);
    CHECK(l.log().find("second interrupt") != std::string::npos);
    for (auto& ns : namespaces)
        CHECK(processes_in_pid_ns(ns).empty());
}

TEST_CASE("--socket and CTR_SOCKET override the configured socket on both sides") {
    CTR_REQUIRE_ROOT();
    lab l("[container idle]\nrootfs = @ROOTFS@\ncommand = sleep 1000\n");
    auto configured = l.socket;
    l.socket = l.dir / "override.sock";
    REQUIRE(l.start({"--socket", l.socket.string()}));
    CHECK_FALSE(fs::exists(configured));
    // ctrctl without --socket finds it through CTR_SOCKET.
    ::setenv("CTR_SOCKET", l.socket.c_str(), 1);
    auto r = run({(build_dir() / "ctrctl").string(), "ps"});
    ::unsetenv("CTR_SOCKET");
    CHECK(r.code == 0);
    CHECK(r.out.find("idle") != std::string::npos);
}
