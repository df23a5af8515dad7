// The isolation keys of a [container]: capability names, cap_add / cap_drop, seccomp,
// readonly_rootfs, nofile and mounts, with the file:line errors of bad values.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdlib.h>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "ctr/config/capabilities.hpp"
#include "ctr/config/config.hpp"
#include "ctr/spawn/security.hpp"

namespace fs = std::filesystem;
using namespace ctr::config;

namespace {

std::string error_of(std::string_view text, bool check_paths = false) {
    try {
        parse(text, "conf/lab.ini", check_paths);
    } catch (const config_error& e) {
        return e.what();
    }
    return "no error";
}

// Lines 1..3; `extra` starts on line 4.
std::string box(std::string_view extra) {
    return "[container box]\nrootfs = /r\ncommand = x\n" + std::string(extra);
}

isolation_settings isolation_of(std::string_view extra) {
    auto cfg = parse(box(extra), "conf/lab.ini", false);
    REQUIRE(cfg.containers.size() == 1);
    return cfg.containers[0].isolation;
}

std::string capabilities_error(std::string_view list) {
    try {
        parse_capabilities(list);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "no error";
}

constexpr std::uint64_t bit(int cap) {
    return std::uint64_t{1} << cap;
}

} // namespace

TEST_CASE("capability names: with or without CAP_, in any case") {
    CHECK(capability_number("CAP_CHOWN") == 0);
    CHECK(capability_number("chown") == 0);
    CHECK(capability_number("Net_Raw") == 13);
    CHECK(capability_number("cap_sys_admin") == 21);
    CHECK(capability_number("CHECKPOINT_RESTORE") == 40);
    CHECK_FALSE(capability_number("CAP_").has_value());
    CHECK_FALSE(capability_number("").has_value());
    CHECK_FALSE(capability_number("SYS_ADMINX").has_value());
    CHECK_FALSE(capability_number("CAP_CAP_CHOWN").has_value());
    CHECK(std::string(capability_name(13)) == "CAP_NET_RAW");
    CHECK(capability_name(41) == nullptr);
    CHECK(capability_name(-1) == nullptr);
    for (int i = 0; i < capability_count; ++i)
        CHECK(capability_number(capability_name(i)) == i);
}

TEST_CASE("capability lists: commas and blanks, ALL, and the unknown name in the error") {
    CHECK(parse_capabilities("NET_ADMIN") == bit(12));
    CHECK(parse_capabilities("net_admin,sys_time") == (bit(12) | bit(25)));
    CHECK(parse_capabilities(" CAP_KILL ,  cap_chown\tsetuid ") == (bit(5) | bit(0) | bit(7)));
    CHECK(parse_capabilities("all") == all_capabilities);
    CHECK(parse_capabilities("CHOWN, ALL") == all_capabilities);
    CHECK(capabilities_error("NET_ADMIN, FLY") ==
          "unknown capability 'FLY' (expected names like NET_ADMIN or CAP_SYS_TIME, or ALL)");
    CHECK(capabilities_error(" , ") == "expected capability names like NET_ADMIN, or ALL");
}

TEST_CASE("capability sets follow Docker: default 14, drop then add, ALL on either side") {
    using ctr::spawn::capability_set;
    using ctr::spawn::default_capabilities;
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW
    // SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    std::uint64_t docker = 0;
    for (int cap : {0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31})
        docker |= bit(cap);
    CHECK(default_capabilities == docker);
    CHECK(default_capabilities == 0xa80425fb);
    CHECK(capability_set(0, 0) == 0xa80425fb);
    CHECK(capability_set(bit(21), 0) == 0xa82425fb);
    CHECK(capability_set(0, bit(0)) == 0xa80425fa);
    CHECK(capability_set(0, bit(13)) == 0xa80405fb);
    CHECK(capability_set(bit(10), all_capabilities) == bit(10));
    CHECK(capability_set(all_capabilities, bit(21)) == (all_capabilities & ~bit(21)));
    // Added and dropped at once: the add wins, as in Docker (drop first, then add).
    CHECK(capability_set(bit(0), bit(0)) == 0xa80425fb);
}

TEST_CASE("config isolation: defaults are Docker's and nothing extra") {
    auto iso = isolation_of("");
    CHECK(iso.cap_add == 0);
    CHECK(iso.cap_drop == 0);
    CHECK(iso.seccomp);
    CHECK_FALSE(iso.readonly_rootfs);
    CHECK_FALSE(iso.nofile.has_value());
    CHECK(iso.mounts.empty());
}

TEST_CASE("config isolation: every key") {
    auto iso = isolation_of("cap_add = SYS_ADMIN, net_admin\n"
                            "cap_drop = ALL\n"
                            "seccomp = unconfined\n"
                            "readonly_rootfs = yes\n"
                            "nofile = 1024:4096\n"
                            "mounts = /srv/data:/data\n"
                            "mounts = /etc//resolv.conf:/etc/./resolv.conf:ro\n"
                            "mounts = /srv/cache/:/var/cache:rw\n");
    CHECK(iso.cap_add == (bit(21) | bit(12)));
    CHECK(iso.cap_drop == all_capabilities);
    CHECK_FALSE(iso.seccomp);
    CHECK(iso.readonly_rootfs);
    REQUIRE(iso.nofile.has_value());
    CHECK(iso.nofile->soft == 1024);
    CHECK(iso.nofile->hard == 4096);
    REQUIRE(iso.mounts.size() == 3);
    CHECK(iso.mounts[0] == bind_mount{"/srv/data", "/data", false});
    CHECK(iso.mounts[1] == bind_mount{"/etc/resolv.conf", "/etc/resolv.conf", true});
    CHECK(iso.mounts[2] == bind_mount{"/srv/cache", "/var/cache", false});

    CHECK(isolation_of("seccomp = default\n").seccomp);
    auto one = isolation_of("nofile = 65536\n").nofile;
    REQUIRE(one.has_value());
    CHECK(one->soft == 65536);
    CHECK(one->hard == 65536);
}

TEST_CASE("config isolation: bad values name the file, line, key and reason") {
    CHECK(error_of(box("cap_add = NET_ADMIN FLY\n")) ==
          "conf/lab.ini:4: bad cap_add 'NET_ADMIN FLY' in [container box]: unknown capability "
          "'FLY' (expected names like NET_ADMIN or CAP_SYS_TIME, or ALL)");
    CHECK(error_of(box("cap_drop = \n"))
              .starts_with(
                  "conf/lab.ini:4: bad cap_drop '' in [container box]: expected capability names"));
    CHECK(error_of(box("cap_add = A\ncap_add = B\n")).find("duplicate key 'cap_add'") !=
          std::string::npos);
    CHECK(error_of(box("seccomp = off\n")) ==
          "conf/lab.ini:4: bad seccomp 'off' in [container box]: expected default or unconfined");
    CHECK(error_of(box("readonly_rootfs = maybe\n"))
              .starts_with("conf/lab.ini:4: bad readonly_rootfs 'maybe'"));
    CHECK(error_of(box("nofile = 4096:1024\n")) ==
          "conf/lab.ini:4: bad nofile '4096:1024' in [container box]: soft limit 4096 is above "
          "the hard limit 1024");
    for (auto bad : {"nofile = lots\n", "nofile = 10:\n", "nofile = -1\n", "nofile = 1:2:3\n",
                     "nofile = 2000000000\n"}) {
        CAPTURE(bad);
        CHECK(error_of(box(bad)).find("expected N or SOFT:HARD") != std::string::npos);
    }
}

TEST_CASE("config isolation: mounts need absolute paths, no '..', and stay out of /, /proc, /sys") {
    auto reason = [](std::string_view value) {
        auto e = error_of(box("mounts = " + std::string(value) + "\n"));
        auto colon = e.find("]: ");
        return colon == std::string::npos ? e : e.substr(colon + 3);
    };
    CHECK(reason("/srv/data") == "expected HOST:CONTAINER or HOST:CONTAINER:ro");
    CHECK(reason("srv/data:/data") == "host path 'srv/data' is not absolute");
    CHECK(reason(":/data") == "host path '' is not absolute");
    CHECK(reason("/srv:data") == "container path 'data' is not absolute");
    CHECK(reason("/srv:/data/../etc") == "container path '/data/../etc' contains '..'");
    CHECK(reason("/srv/../etc:/data") == "host path '/srv/../etc' contains '..'");
    CHECK(reason("/srv:/") == "cannot bind over the container's root");
    CHECK(reason("/srv:/./") == "cannot bind over the container's root");
    CHECK(reason("/srv:/proc") ==
          "container path /proc is inside /proc, which only the supervisor mounts");
    CHECK(reason("/srv:/sys/fs/x") ==
          "container path /sys/fs/x is inside /sys, which only the supervisor mounts");
    CHECK(reason("/srv:/data:rx") == "unknown option 'rx' (expected ro or rw)");
    CHECK(reason("/srv:/data:") == "empty option after the second ':' (expected ro or rw)");
    CHECK(reason("/srv:/data:ro:x") == "unknown option 'ro:x' (expected ro or rw)");
    // Neighbours of the refused folders are fine.
    CHECK(isolation_of("mounts = /srv:/processes\n").mounts.size() == 1);
    CHECK(isolation_of("mounts = /srv:/system\n").mounts.size() == 1);
    // Every bad line is reported, each with its own line.
    auto both = error_of(box("mounts = x:/a\nmounts = /ok:/b\nmounts = /y:z\n"));
    CHECK(both.find("conf/lab.ini:4: bad mounts 'x:/a'") != std::string::npos);
    CHECK(both.find("conf/lab.ini:6: bad mounts '/y:z'") != std::string::npos);
}

TEST_CASE("config isolation: a mounts host path must exist and be a folder or a file") {
    char tmpl[] = "/tmp/ctr-mounts-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    fs::path dir = tmpl;
    std::ofstream(dir / "file") << "x\n";
    auto with = [&](const std::string& value) {
        return "[container box]\nrootfs = " + dir.string() + "\ncommand = x\nmounts = " + value +
               "\n";
    };
    CHECK(error_of(with(dir.string() + ":/data"), true) == "no error");
    CHECK(error_of(with((dir / "file").string() + ":/etc/x:ro"), true) == "no error");
    CHECK(error_of(with((dir / "missing").string() + ":/data"), true) ==
          "conf/lab.ini:4: bad mounts '" + (dir / "missing").string() +
              ":/data' in [container box]: " + (dir / "missing").string() + " does not exist");
    CHECK(error_of(with("/dev/null:/data"), true)
              .ends_with("/dev/null is neither a folder nor a regular file"));
    // Without path checks (unit tests, fuzzing) only the form is checked.
    CHECK(error_of(with((dir / "missing").string() + ":/data"), false) == "no error");
    fs::remove_all(dir);
}
