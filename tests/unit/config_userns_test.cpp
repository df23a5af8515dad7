// `userns` in [container], the range in [supervisor], and how an upper tree's owners move
// between maps.
#include <algorithm>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "ctr/config/config.hpp"
#include "ctr/spawn/plan.hpp"
#include "ctr/spawn/userns.hpp"

using namespace ctr::config;

namespace {

// [supervisor] on lines 1..3 (`sup` from line 2), [container box] from line 5.
std::string file(std::string_view sup, std::string_view box = "userns = true") {
    std::string text = "[supervisor]\n" + std::string(sup) + "\n\n";
    while (std::count(text.begin(), text.end(), '\n') < 4)
        text += "\n";
    return text + "[container box]\nrootfs = /r\ncommand = x\n" + std::string(box) + "\n";
}

std::string error_of(std::string_view text) {
    try {
        parse(text, "conf/lab.ini", false);
    } catch (const config_error& e) {
        return e.what();
    }
    return "no error";
}

std::optional<id_range> userns_of(std::string_view text) {
    auto cfg = parse(text, "conf/lab.ini", false);
    REQUIRE(cfg.containers.size() == 1);
    return cfg.containers[0].userns;
}

} // namespace

TEST_CASE("userns: off by default; on, the container takes [supervisor]'s range") {
    CHECK(!userns_of(file("", "")));
    CHECK(!userns_of(file("", "userns = false")));
    CHECK(userns_of(file("")) == id_range{100000, 65536});
    CHECK(userns_of(file("userns_base = 200000\nuserns_size = 1000")) == id_range{200000, 1000});
    // [supervisor] may come after the containers.
    auto later = std::string("[container box]\nrootfs = /r\ncommand = x\nuserns = yes\n") +
                 "[supervisor]\nuserns_base = 5000\n";
    CHECK(userns_of(later) == id_range{5000, 65536});
}

TEST_CASE("userns: bad ranges name file, line, section and key") {
    CHECK(error_of(file("userns_base = 0")) ==
          "conf/lab.ini:2: bad userns_base '0' in [supervisor]: 0 would map the container's "
          "root to the host's root");
    for (auto bad : {"-1", "1.5", "", "100k", "4294967295", "99999999999"}) {
        CAPTURE(bad);
        CHECK(error_of(file(std::string("userns_base = ") + bad)) ==
              "conf/lab.ini:2: bad userns_base '" + std::string(bad) +
                  "' in [supervisor]: expected a whole number from 1 to 4294967294");
    }
    CHECK(error_of(file("userns_size = 0")) ==
          "conf/lab.ini:2: bad userns_size '0' in [supervisor]: expected a whole number from 1 "
          "to 4294967294");
    CHECK(error_of(file("userns_base = 4294967000\nuserns_size = 1000")) ==
          "conf/lab.ini:3: bad userns_size in [supervisor]: userns_base 4294967000 + "
          "userns_size 1000 ends at host id 4294967999, past 4294967294");
    CHECK(error_of(file("userns_size = 1000\nuserns_base = 4294967000")) ==
          "conf/lab.ini:3: bad userns_base in [supervisor]: userns_base 4294967000 + "
          "userns_size 1000 ends at host id 4294967999, past 4294967294");
    // The last id of the range may be the highest valid one.
    CHECK(userns_of(file("userns_base = 4294901759\nuserns_size = 65536")) ==
          id_range{4294901759, 65536});
    CHECK(error_of(file("", "userns = maybe")) ==
          "conf/lab.ini:8: bad userns 'maybe' in [container box]: expected true/false, yes/no, "
          "1/0 or on/off");
}

TEST_CASE("userns: the plan maps the overlay relative to the container's folder") {
    auto cfg = parse(file("userns_base = 300000\nuserns_size = 1000"), "conf/lab.ini", false);
    auto p = ctr::spawn::make_plan(cfg.containers[0], {"/run/ctr/containers/box"});
    CHECK(p.userns.enabled);
    CHECK(p.userns.base == 300000u);
    CHECK(p.userns.size == 1000u);
    CHECK(p.userns.dir == "/run/ctr/containers/box");
    CHECK(p.overlay_options == "lowerdir=lower,upperdir=upper,workdir=work,userxattr");
    // The kernel refuses a ping_group_range with a gid the namespace does not map.
    CHECK(p.ping_range == "0 999");

    auto plain = parse(file("", ""), "conf/lab.ini", false);
    auto q = ctr::spawn::make_plan(plain.containers[0], {"/run/ctr/containers/box"});
    CHECK(!q.userns.enabled);
    CHECK(q.ping_range == "0 2147483647");
    CHECK(q.overlay_options == "lowerdir=/r,upperdir=/run/ctr/containers/box/upper,"
                               "workdir=/run/ctr/containers/box/work,volatile");
}

TEST_CASE("userns: id_map_line and shifting an upper tree's owners between maps") {
    using ctr::spawn::shift_id;
    id_range a{100000, 65536}, b{300000, 1000};
    CHECK(ctr::spawn::id_map_line(a) == "0 100000 65536\n");
    // Host ids to a map, and back.
    CHECK(shift_id(0, std::nullopt, a) == 100000u);
    CHECK(shift_id(1000, std::nullopt, a) == 101000u);
    CHECK(shift_id(100000, a, std::nullopt) == 0u);
    CHECK(shift_id(165535, a, std::nullopt) == 65535u);
    // From one map to another: id n inside stays n inside.
    CHECK(shift_id(100999, a, b) == 300999u);
    // What the old map does not cover, or the new one cannot hold, stays as it is.
    CHECK(shift_id(5, a, b) == 5u);
    CHECK(shift_id(165536, a, std::nullopt) == 165536u);
    CHECK(shift_id(101000, a, b) == 101000u);
    CHECK(shift_id(70000, std::nullopt, a) == 70000u);
    CHECK(shift_id(7, std::nullopt, std::nullopt) == 7u);
}
