// The cgroup limit keys of [container]: memory, pids, cpu.
#include <string>

#include <doctest/doctest.h>

#include "ctr/config/config.hpp"

using namespace ctr::config;

namespace {

// A container section whose line 4 is `extra`.
std::string web(std::string_view extra) {
    return "[container web]\nrootfs = /srv/web\ncommand = httpd\n" + std::string(extra) + "\n";
}

resource_limits limits_of(std::string_view extra) {
    auto cfg = parse(web(extra), "conf/lab.ini", false);
    REQUIRE(cfg.containers.size() == 1);
    return cfg.containers.front().limits;
}

std::string error_of(std::string_view extra) {
    try {
        parse(web(extra), "conf/lab.ini", false);
    } catch (const config_error& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

TEST_CASE("limits: unset keys leave every limit unset") {
    auto l = limits_of("");
    CHECK(!l.memory);
    CHECK(!l.pids);
    CHECK(!l.cpu);
}

TEST_CASE("limits: memory takes bytes with K, M, G or T in powers of 1024") {
    CHECK(limits_of("memory = 64M").memory == 64ull << 20);
    CHECK(limits_of("memory = 64m").memory == 64ull << 20);
    CHECK(limits_of("memory = 1G").memory == 1ull << 30);
    CHECK(limits_of("memory = 4096k").memory == 4ull << 20);
    CHECK(limits_of("memory = 2T").memory == 2ull << 40);
    CHECK(limits_of("memory = 4194304").memory == 4ull << 20);
}

TEST_CASE("limits: bad memory values name file, line, section and the rule") {
    CHECK(error_of("memory = 3M") ==
          "conf/lab.ini:4: bad memory '3M' in [container web]: at least 4M (4194304 bytes)");
    CHECK(error_of("memory = 4194303") ==
          "conf/lab.ini:4: bad memory '4194303' in [container web]: at least 4M (4194304 bytes)");
    for (auto bad : {"64MB", "64 M", "1.5G", "-64M", "M", "64X", "0x10M", "max"}) {
        CAPTURE(bad);
        CHECK(error_of(std::string("memory = ") + bad) ==
              "conf/lab.ini:4: bad memory '" + std::string(bad) +
                  "' in [container web]: expected bytes with an optional K, M, G or T suffix, "
                  "like 64M");
    }
    CHECK(error_of("memory = 99999999999999999999") ==
          "conf/lab.ini:4: bad memory '99999999999999999999' in [container web]: too large");
    CHECK(error_of("memory = 9000000T") ==
          "conf/lab.ini:4: bad memory '9000000T' in [container web]: too large");
    CHECK(error_of("memory = 64M\nmemory = 1G") ==
          "conf/lab.ini:5: duplicate key 'memory' in [container web] (first at line 4)");
}

TEST_CASE("limits: pids takes a whole number from 1, or max") {
    CHECK(limits_of("pids = 64").pids == 64u);
    CHECK(limits_of("pids = 1").pids == 1u);
    CHECK(limits_of("pids = 4194304").pids == 4194304u);
    CHECK(!limits_of("pids = max").pids);
    for (auto bad : {"0", "-1", "4194305", "1.5", "MAX", "64k", ""}) {
        CAPTURE(bad);
        CHECK(error_of(std::string("pids = ") + bad) ==
              "conf/lab.ini:4: bad pids '" + std::string(bad) +
                  "' in [container web]: expected a whole number from 1 to 4194304, or max");
    }
}

TEST_CASE("limits: cpu takes a decimal number of CPUs") {
    CHECK(limits_of("cpu = 0.5").cpu == doctest::Approx(0.5));
    CHECK(limits_of("cpu = 2").cpu == doctest::Approx(2.0));
    CHECK(limits_of("cpu = 0.01").cpu == doctest::Approx(0.01));
    CHECK(limits_of("cpu = 1.25").cpu == doctest::Approx(1.25));
    for (auto bad : {"-0.5", "+1", ".5", "1.", "1e3", "inf", "nan", "0.5.1", "half", "50%", ""}) {
        CAPTURE(bad);
        CHECK(error_of(std::string("cpu = ") + bad) ==
              "conf/lab.ini:4: bad cpu '" + std::string(bad) +
                  "' in [container web]: expected a number of CPUs like 0.5 or 2");
    }
    CHECK(error_of("cpu = 0") ==
          "conf/lab.ini:4: bad cpu '0' in [container web]: at least 0.01 (1 ms of every 100 ms)");
    CHECK(error_of("cpu = 0.009") == "conf/lab.ini:4: bad cpu '0.009' in [container web]: at "
                                     "least 0.01 (1 ms of every 100 ms)");
    CHECK(error_of("cpu = 1025") ==
          "conf/lab.ini:4: bad cpu '1025' in [container web]: at most 1024");
}

TEST_CASE("limits: every replica gets the section's limits") {
    auto cfg =
        parse(web("replicas = 2\nmemory = 32M\npids = 10\ncpu = 0.25"), "conf/lab.ini", false);
    REQUIRE(cfg.containers.size() == 2);
    for (const auto& c : cfg.containers) {
        CHECK(c.limits.memory == 32ull << 20);
        CHECK(c.limits.pids == 10u);
        CHECK(c.limits.cpu == doctest::Approx(0.25));
    }
}

TEST_CASE("limits: the keys belong to [container] only") {
    CHECK(error_of("").find("no error") != std::string::npos);
    try {
        parse("[supervisor]\nmemory = 64M\n", "conf/lab.ini", false);
        FAIL("accepted");
    } catch (const config_error& e) {
        CHECK(std::string(e.what()) == "conf/lab.ini:2: unknown key 'memory' in [supervisor]");
    }
}
