// Restart delays: 100 ms doubling to the 30 s cap, back to 100 ms after a healthy run.
#include <chrono>
#include <vector>

#include <doctest/doctest.h>

#include "ctr/supervise/backoff.hpp"

using ctr::supervise::backoff;
using ms = std::chrono::milliseconds;

namespace {
// The delays after `n` runs that each lasted `lasted`.
std::vector<long long> delays(backoff& b, int n, ms lasted) {
    std::vector<long long> out;
    for (int i = 0; i < n; ++i)
        out.push_back(b.after_run(lasted).count());
    return out;
}
} // namespace

TEST_CASE("backoff: doubles from 100 ms and stays at the 30 s cap") {
    backoff b;
    CHECK(delays(b, 12, ms(500)) == std::vector<long long>{100, 200, 400, 800, 1600, 3200, 6400,
                                                           12800, 25600, 30000, 30000, 30000});
    // Capped for good: many more short runs never exceed it nor overflow.
    for (int i = 0; i < 1000; ++i)
        REQUIRE(b.after_run(ms(1)) == ms(30'000));
}

TEST_CASE("backoff: a failed start (lasted 0) keeps doubling") {
    backoff b;
    CHECK(delays(b, 6, ms(0)) == std::vector<long long>{100, 200, 400, 800, 1600, 3200});
    CHECK(b.after_run(ms(0)) == ms(6400));
}

TEST_CASE("backoff: a run of 10 s or more resets the delay to 100 ms") {
    backoff b;
    delays(b, 5, ms(0)); // 100 .. 1600 spent; next would be 3200
    SUBCASE("exactly 10 s counts as healthy") {
        CHECK(b.after_run(ms(10'000)) == ms(100));
        CHECK(b.after_run(ms(0)) == ms(200));
    }
    SUBCASE("a long run resets even from the cap") {
        delays(b, 20, ms(0));
        REQUIRE(b.after_run(ms(0)) == ms(30'000));
        CHECK(b.after_run(std::chrono::hours(1)) == ms(100));
        CHECK(b.after_run(ms(9'999)) == ms(200));
    }
    SUBCASE("just under 10 s does not reset") {
        CHECK(b.after_run(ms(9'999)) == ms(3200));
        CHECK(b.after_run(ms(9'999)) == ms(6400));
    }
}

TEST_CASE("backoff: reset() starts over at 100 ms") {
    backoff b;
    delays(b, 8, ms(0));
    b.reset();
    CHECK(delays(b, 3, ms(0)) == std::vector<long long>{100, 200, 400});
}

TEST_CASE("backoff: custom initial, cap and healthy threshold") {
    backoff b(ms(5), ms(30), ms(50));
    CHECK(delays(b, 5, ms(0)) == std::vector<long long>{5, 10, 20, 30, 30});
    CHECK(b.after_run(ms(50)) == ms(5));
}
