// The load test of issue 4 as CI runs it: 50 containers on one bridge ping each other by name;
// not one ping is lost and nothing of the run is left on the host afterwards.
#include "harness.hpp"

#include <doctest/doctest.h>

using namespace ctr::test;

TEST_CASE("loadtest: 50 containers ping each other by name, lose nothing and leave nothing") {
    CTR_REQUIRE_ROOT();
    auto loadtest = build_dir() / "loadtest";
    REQUIRE_MESSAGE(fs::exists(loadtest), "no ", loadtest.string(), ": build the loadtest target");
    // --rootfs: the image of this source tree, wherever the build dir is.
    auto r = run({loadtest.string(), "--containers", "50", "--duration", "5", "--json", "--rootfs",
                  busybox_rootfs().string()},
                 std::chrono::minutes(5));
    CAPTURE(r.out);
    CAPTURE(r.err);
    CHECK(r.code == 0);
    auto report = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(report.is_discarded());
    CHECK(report["errors"].empty());
    CHECK(report["containers"]["running"] == 50);
    CHECK(report["containers"]["failed"].empty());
    CHECK(report["pings"]["lost"] == 0);
    CHECK(report["pings"]["received"].get<long>() > 0);
    CHECK(report["pings"]["received"] == report["pings"]["sent"]);
    CHECK(report["supervisor"]["exit_code"] == 0);
    CHECK(report["leaks"]["clean"] == true);
}
