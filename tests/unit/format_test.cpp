// What ctrctl prints and the argument values it accepts.
#include <chrono>
#include <csignal>
#include <string>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "ctr/control/format.hpp"
#include "ctr/core/error.hpp"

using namespace ctr::control;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("uptime shows at most two units") {
    CHECK(format_uptime(milliseconds(0)) == "0s");
    CHECK(format_uptime(milliseconds(999)) == "0s");
    CHECK(format_uptime(seconds(5)) == "5s");
    CHECK(format_uptime(seconds(59)) == "59s");
    CHECK(format_uptime(seconds(60)) == "1m00s");
    CHECK(format_uptime(seconds(3 * 60 + 12)) == "3m12s");
    CHECK(format_uptime(seconds(3599)) == "59m59s");
    CHECK(format_uptime(seconds(3600)) == "1h00m");
    CHECK(format_uptime(seconds(2 * 3600 + 4 * 60 + 59)) == "2h04m");
    CHECK(format_uptime(seconds(86400 + 7 * 3600)) == "1d07h");
    CHECK(format_uptime(seconds(400 * 86400)) == "400d00h");
    // A clock stepped back must not print a negative age.
    CHECK(format_uptime(seconds(-5)) == "0s");
}

TEST_CASE("signals by name, with or without SIG, any case, or by number") {
    CHECK(parse_signal("TERM") == SIGTERM);
    CHECK(parse_signal("SIGTERM") == SIGTERM);
    CHECK(parse_signal("kill") == SIGKILL);
    CHECK(parse_signal("sigKill") == SIGKILL);
    CHECK(parse_signal("hup") == SIGHUP);
    CHECK(parse_signal("WINCH") == SIGWINCH);
    CHECK(parse_signal("9") == 9);
    CHECK(parse_signal("15") == 15);
    CHECK(parse_signal("RTMIN") == SIGRTMIN);
    CHECK(parse_signal("SIGRTMIN+3") == SIGRTMIN + 3);
    CHECK(parse_signal("rtmax-1") == SIGRTMAX - 1);
    CHECK(parse_signal(std::to_string(SIGRTMAX)) == SIGRTMAX);

    for (const char* bad : {"", "SIG", "FOO", "SIGFOO", "0", "-1", "+9", "9x", " 9", "65",
                            "99999999999", "RTMIN+", "RTMIN3", "RTMIN-1", "RTMAX+1", "RTMIN+99"})
        CHECK_THROWS_AS(parse_signal(bad), ctr::error);
    CHECK_THROWS_WITH(parse_signal("FOO"), "unknown signal 'FOO'");
}

TEST_CASE("seconds may be fractional and suffixed with s") {
    CHECK(parse_seconds("0") == milliseconds(0));
    CHECK(parse_seconds("10") == milliseconds(10'000));
    CHECK(parse_seconds("1.5") == milliseconds(1'500));
    CHECK(parse_seconds("0.25s") == milliseconds(250));
    CHECK(parse_seconds("30s") == milliseconds(30'000));
    for (const char* bad : {"", "s", "-1", "abc", "1.5ms", "1m", "nan", "inf", "1e10", " 1", "1 "})
        CHECK_THROWS_AS(parse_seconds(bad), ctr::error);
    CHECK_THROWS_WITH(parse_seconds("-1"), "invalid number of seconds '-1'");
}

TEST_CASE("the EXIT column prefers the signal, then the exit code") {
    using nlohmann::json;
    CHECK(format_exit({{"exit_code", nullptr}, {"signal", "SIGKILL"}}) == "SIGKILL");
    CHECK(format_exit({{"exit_code", 0}, {"signal", nullptr}}) == "0");
    CHECK(format_exit({{"exit_code", 1}, {"signal", nullptr}}) == "1");
    CHECK(format_exit({{"exit_code", nullptr}, {"signal", nullptr}}) == "-");
    CHECK(format_exit(json::object()) == "-");
}

TEST_CASE("ps renders an aligned table from the supervisor's statuses") {
    using namespace std::chrono;
    const system_clock::time_point now{milliseconds(1'700'000'000'000)};
    auto containers = nlohmann::json::parse(R"([
        {"name": "web", "state": "running", "pid": 4242, "ip": "10.88.0.2", "restarts": 0,
         "started_at": 1699999808000, "exit_code": null, "signal": null, "error": null,
         "restart_policy": "always"},
        {"name": "db-1", "state": "failed", "pid": null, "restarts": 3, "started_at": null,
         "exit_code": 1, "signal": null, "error": "exec \"/bin/pg\": No such file or directory",
         "restart_policy": "on-failure"},
        {"name": "job", "state": "stopped", "pid": null, "restarts": 12, "started_at": 1000,
         "exit_code": null, "signal": "SIGKILL", "error": null, "restart_policy": "no"}
    ])");
    CHECK(format_ps(containers, now) ==
          "NAME  STATE    PID   IP         RESTARTS  UPTIME  EXIT     ERROR\n"
          "web   running  4242  10.88.0.2  0         3m12s   -        -\n"
          "db-1  failed   -     -          3         -       1        exec \"/bin/pg\": No such "
          "file or directory\n"
          "job   stopped  -     -          12        -       SIGKILL  -\n");
}

TEST_CASE("ps survives odd statuses") {
    using namespace std::chrono;
    const system_clock::time_point now{milliseconds(1'700'000'000'000)};
    const std::string header = "NAME  STATE  PID  IP  RESTARTS  UPTIME  EXIT  ERROR\n";
    CHECK(format_ps(nlohmann::json::array(), now) == header);
    CHECK(format_ps(nullptr, now) == header);
    CHECK(format_ps(nlohmann::json::object(), now) == header);

    // Missing fields, a start time in the future or absurd, control bytes in the error text.
    auto odd = nlohmann::json::parse(R"([
        {},
        {"name": "a", "state": "running", "started_at": 1800000000000},
        {"name": "b", "state": "running", "started_at": 18446744073709551615},
        {"name": "c", "state": "running", "started_at": -5},
        {"name": "d", "state": "running", "started_at": 1.5e300, "error": "two\nlines\u001b[2J"}
    ])");
    CHECK(format_ps(odd, now) == "NAME  STATE    PID  IP  RESTARTS  UPTIME  EXIT  ERROR\n"
                                 "-     -        -    -   -         -       -     -\n"
                                 "a     running  -    -   -         0s      -     -\n"
                                 "b     running  -    -   -         0s      -     -\n"
                                 "c     running  -    -   -         -       -     -\n"
                                 "d     running  -    -   -         -       -     two?lines?[2J\n");
}

TEST_CASE("net lists each network once, then its containers") {
    auto nets = nlohmann::json::parse(R"([
        {"name": "lab", "bridge": "ctr0", "subnet": "10.88.0.0/24", "gateway": "10.88.0.1",
         "containers": [{"name": "web-1", "ip": "10.88.0.2", "error": null},
                        {"name": "big", "ip": null, "error": "subnet 10.88.0.0/24 exhausted"}]},
        {"name": "empty", "bridge": "ctr1", "subnet": "10.89.0.0/24", "gateway": "10.89.0.1",
         "containers": []}
    ])");
    CHECK(format_net(nets) ==
          "NETWORK  BRIDGE  SUBNET        GATEWAY    CONTAINER  IP         ERROR\n"
          "lab      ctr0    10.88.0.0/24  10.88.0.1  web-1      10.88.0.2  -\n"
          "                                          big        -          subnet 10.88.0.0/24 "
          "exhausted\n"
          "empty    ctr1    10.89.0.0/24  10.89.0.1  -          -          -\n");
}
