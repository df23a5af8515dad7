// `ctrctl stats` rendering and the EXIT column's reason.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "ctr/control/format.hpp"

using namespace ctr::control;
using nlohmann::json;

TEST_CASE("format_bytes: binary units with one decimal") {
    CHECK(format_bytes(0) == "0B");
    CHECK(format_bytes(1023) == "1023B");
    CHECK(format_bytes(1024) == "1.0K");
    CHECK(format_bytes(1536) == "1.5K");
    CHECK(format_bytes(64ull << 20) == "64.0M");
    CHECK(format_bytes(3ull << 30) == "3.0G");
    CHECK(format_bytes(5ull << 40) == "5.0T");
    CHECK(format_bytes(UINT64_MAX) == "16.0E");
}

TEST_CASE("format_stats: NAME MEM MEM-PEAK PIDS CPU(s), '-' for what is missing or odd") {
    json list = json::array({{{"name", "web"},
                              {"memory", 1536},
                              {"memory_peak", 64ull << 20},
                              {"pids", 3},
                              {"cpu_seconds", 1.234}},
                             {{"name", "db"},
                              {"memory", nullptr},
                              {"memory_peak", "x"},
                              {"pids", nullptr},
                              {"cpu_seconds", nullptr}},
                             {{"name", "odd"}, {"memory", -5}},
                             "not an object"});
    CHECK(format_stats(list) == "NAME  MEM   MEM-PEAK  PIDS  CPU(s)\n"
                                "web   1.5K  64.0M     3     1.23\n"
                                "db    -     -         -     -\n"
                                "odd   -     -         -     -\n");
    CHECK(format_stats(json::object()) == "NAME  MEM  MEM-PEAK  PIDS  CPU(s)\n");
}

TEST_CASE("format_exit: a reason follows the signal") {
    CHECK(format_exit({{"signal", "SIGKILL"}, {"reason", "oom-killed"}}) == "SIGKILL (oom-killed)");
    CHECK(format_exit({{"exit_code", 137}, {"signal", nullptr}, {"reason", "oom-killed"}}) ==
          "137 (oom-killed)");
    CHECK(format_exit({{"signal", "SIGKILL"}, {"reason", nullptr}}) == "SIGKILL");
    CHECK(format_exit({{"signal", "SIGKILL"}, {"reason", ""}}) == "SIGKILL");
    CHECK(format_exit({{"signal", "SIGKILL"}, {"reason", 3}}) == "SIGKILL");
}
