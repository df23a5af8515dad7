// The config keys of terminals and logs: [supervisor] log_dir, log_max_size, log_max_files and
// [container] stdin.
#include <string>

#include <doctest/doctest.h>

#include "ctr/config/config.hpp"

using namespace ctr::config;

namespace {

// A [supervisor] section whose line 2 is `extra`, then a container.
std::string with_supervisor(std::string_view extra) {
    return "[supervisor]\n" + std::string(extra) +
           "\n[container web]\nrootfs = /srv/web\ncommand = httpd\n";
}

// A container section whose line 4 is `extra`.
std::string web(std::string_view extra) {
    return "[container web]\nrootfs = /srv/web\ncommand = httpd\n" + std::string(extra) + "\n";
}

std::string error_of(const std::string& text) {
    try {
        parse(text, "conf/lab.ini", false);
    } catch (const config_error& e) {
        return e.what();
    }
    return "no error";
}

supervisor sup_of(std::string_view extra) {
    return parse(with_supervisor(extra), "/etc/ctr/lab.ini", false).sup;
}

} // namespace

TEST_CASE("logs: defaults are state_dir/logs, 10M per file, 5 files") {
    auto s = parse("", "/etc/ctr/lab.ini", false).sup;
    CHECK(s.log_dir == std::filesystem::path(default_state_dir) / "logs");
    CHECK(s.log_max_size == 10u << 20);
    CHECK(s.log_max_files == 5);
}

TEST_CASE("logs: the default log_dir follows state_dir, wherever it is set") {
    CHECK(sup_of("state_dir = /var/lib/ctr").log_dir == "/var/lib/ctr/logs");
    // log_dir is filled in after the whole file is read, so a later state_dir still counts.
    auto cfg = parse("[container web]\nrootfs = /srv/web\ncommand = httpd\n"
                     "[supervisor]\nstate_dir = ../state\n",
                     "/etc/ctr/lab.ini", false);
    CHECK(cfg.sup.log_dir == "/etc/state/logs");
}

TEST_CASE("logs: log_dir is a path, relative to the config file's folder") {
    CHECK(sup_of("log_dir = /var/log/ctr").log_dir == "/var/log/ctr");
    CHECK(sup_of("log_dir = logs/").log_dir == "/etc/ctr/logs");
    CHECK(sup_of("log_dir = /var/log/ctr\nstate_dir = /srv/state").log_dir == "/var/log/ctr");
    CHECK(error_of(with_supervisor("log_dir =")) ==
          "conf/lab.ini:2: bad log_dir '' in [supervisor]: empty path");
}

TEST_CASE("logs: log_max_size takes a size like memory, from 1K") {
    CHECK(sup_of("log_max_size = 10M").log_max_size == 10u << 20);
    CHECK(sup_of("log_max_size = 1k").log_max_size == 1024);
    CHECK(sup_of("log_max_size = 1024").log_max_size == 1024);
    CHECK(sup_of("log_max_size = 2G").log_max_size == 2ull << 30);
    CHECK(error_of(with_supervisor("log_max_size = 1023")) ==
          "conf/lab.ini:2: bad log_max_size '1023' in [supervisor]: at least 1K (1024 bytes)");
    for (auto bad : {"10MB", "", "-1", "1.5M", "ten", "10 M"}) {
        CAPTURE(bad);
        CHECK(error_of(with_supervisor(std::string("log_max_size = ") + bad)) ==
              "conf/lab.ini:2: bad log_max_size '" + std::string(bad) +
                  "' in [supervisor]: expected bytes with an optional K, M, G or T suffix, like "
                  "10M");
    }
    CHECK(error_of(with_supervisor("log_max_size = 99999999999999999999")) ==
          "conf/lab.ini:2: bad log_max_size '99999999999999999999' in [supervisor]: too large");
}

TEST_CASE("logs: log_max_files is a whole number from 1") {
    CHECK(sup_of("log_max_files = 1").log_max_files == 1);
    CHECK(sup_of("log_max_files = 20").log_max_files == 20);
    for (auto bad : {"0", "-1", "1001", "2.5", "", "five"}) {
        CAPTURE(bad);
        CHECK(error_of(with_supervisor(std::string("log_max_files = ") + bad)) ==
              "conf/lab.ini:2: bad log_max_files '" + std::string(bad) +
                  "' in [supervisor]: expected a whole number from 1 to 1000");
    }
    CHECK(error_of(with_supervisor("log_max_files = 2\nlog_max_files = 3")) ==
          "conf/lab.ini:3: duplicate key 'log_max_files' in [supervisor] (first at line 2)");
}

TEST_CASE("logs: the keys belong to [supervisor], not to containers") {
    CHECK(error_of(web("log_dir = /tmp")) ==
          "conf/lab.ini:4: unknown key 'log_dir' in [container web]");
}

TEST_CASE("stdin: off by default, a bool per container, copied to its replicas") {
    auto cfg = parse(web(""), "conf/lab.ini", false);
    REQUIRE(cfg.containers.size() == 1);
    CHECK_FALSE(cfg.containers[0].stdin_open);
    CHECK(parse(web("stdin = true"), "conf/lab.ini", false).containers[0].stdin_open);
    CHECK_FALSE(parse(web("stdin = no"), "conf/lab.ini", false).containers[0].stdin_open);
    auto replicas = parse(web("stdin = yes\nreplicas = 2"), "conf/lab.ini", false);
    REQUIRE(replicas.containers.size() == 2);
    CHECK(replicas.containers[0].stdin_open);
    CHECK(replicas.containers[1].stdin_open);
}

TEST_CASE("stdin: bad values and repeats name file, line and section") {
    CHECK(error_of(web("stdin = maybe")) ==
          "conf/lab.ini:4: bad stdin 'maybe' in [container web]: expected true/false, yes/no, "
          "1/0 or on/off");
    CHECK(error_of(web("stdin = true\nstdin = false")) ==
          "conf/lab.ini:5: duplicate key 'stdin' in [container web] (first at line 4)");
    CHECK(error_of("[supervisor]\nstdin = true\n") ==
          "conf/lab.ini:2: unknown key 'stdin' in [supervisor]");
}
