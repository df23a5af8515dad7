#include "common/temp_dir.hpp"
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <stdlib.h>
#include <string>

#include <doctest/doctest.h>

#include "ctr/config/config.hpp"

using ctr::test::temp_dir;

namespace fs = std::filesystem;
using namespace ctr::config;
using namespace std::chrono_literals;

namespace {

// All the problems of `text` as config_error::what() joins them, or "no error".
std::string error_of(std::string_view text, const fs::path& file = "conf/lab.ini",
                     bool check_paths = false) {
    try {
        parse(text, file, check_paths);
    } catch (const config_error& e) {
        return e.what();
    }
    return "no error";
}

// A minimal valid container section, for tests about one other key.
std::string web(std::string_view extra) {
    return "[container web]\nrootfs = /srv/web\ncommand = httpd\n" + std::string(extra);
}

std::string duration_error(std::string_view s) {
    try {
        parse_duration(s);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

TEST_CASE("config: every key") {
    auto cfg = parse(R"([supervisor]
socket = run/ctr.sock
state_dir = /var/lib/ctr
stop_timeout = 30s

[container web]
rootfs = /srv/web
command = /bin/httpd -f "/etc/httpd conf"
env = PATH=/bin:/usr/bin
env = MODE=prod
workdir = /srv
hostname = web-host
tty = yes
restart = on-failure
replicas = 2
stop_timeout = 500ms
)",
                     "conf/lab.ini", false);
    auto dir = fs::current_path() / "conf";
    CHECK(cfg.file == "conf/lab.ini");
    CHECK(cfg.sup.socket == dir / "run/ctr.sock");
    CHECK(cfg.sup.state_dir == "/var/lib/ctr");
    CHECK(cfg.sup.stop_timeout == 30s);
    REQUIRE(cfg.containers.size() == 2);
    for (const auto& c : cfg.containers) {
        CHECK(c.line == 6);
        CHECK(c.rootfs == "/srv/web");
        CHECK(c.command == std::vector<std::string>{"/bin/httpd", "-f", "/etc/httpd conf"});
        CHECK(c.env == std::vector<std::string>{"PATH=/bin:/usr/bin", "MODE=prod"});
        CHECK(c.workdir == "/srv");
        CHECK(c.hostname == "web-host");
        CHECK(c.tty);
        CHECK(c.restart == restart_policy::on_failure);
        CHECK(c.stop_timeout == 500ms);
    }
    CHECK(cfg.containers[0].name == "web-1");
    CHECK(cfg.containers[1].name == "web-2");
}

TEST_CASE("config: defaults") {
    auto cfg = parse("[container db]\nrootfs = /srv/db\ncommand = postgres\n", "lab.ini", false);
    CHECK(cfg.sup.socket == default_socket);
    CHECK(cfg.sup.state_dir == default_state_dir);
    CHECK(cfg.sup.stop_timeout == 10s);
    REQUIRE(cfg.containers.size() == 1);
    const auto& c = cfg.containers[0];
    CHECK(c.name == "db");
    CHECK(c.line == 1);
    CHECK(c.hostname == "db");
    CHECK(c.env.empty());
    CHECK(c.workdir == "/");
    CHECK_FALSE(c.tty);
    CHECK(c.restart == restart_policy::no);
    CHECK(c.stop_timeout == 10s);
}

TEST_CASE("config: [supervisor] stop_timeout is the default wherever the section stands") {
    auto cfg = parse(web("") + "[container fast]\nrootfs=/r\ncommand=x\nstop_timeout=1\n" +
                         "[supervisor]\nstop_timeout = 2m\n",
                     "lab.ini", false);
    REQUIRE(cfg.containers.size() == 2);
    CHECK(cfg.containers[0].stop_timeout == 2min);
    CHECK(cfg.containers[1].stop_timeout == 1s);
}

TEST_CASE("config: a file with no containers is valid") {
    CHECK(parse("", "lab.ini", false).containers.empty());
    auto cfg = parse("# nothing yet\n[supervisor]\n", "lab.ini", false);
    CHECK(cfg.containers.empty());
}

TEST_CASE("config: replicas") {
    auto cfg = parse("[container a]\nrootfs=/r\ncommand=x\nreplicas=3\n"
                     "[container b]\nrootfs=/r\ncommand=x\nreplicas=1\n",
                     "lab.ini", false);
    REQUIRE(cfg.containers.size() == 4);
    CHECK(cfg.containers[0].name == "a-1");
    CHECK(cfg.containers[1].name == "a-2");
    CHECK(cfg.containers[2].name == "a-3");
    CHECK(cfg.containers[3].name == "b-1");
    CHECK(cfg.containers[2].hostname == "a-3");
    CHECK(cfg.containers[3].line == 5);
}

TEST_CASE("config: env keeps order and a later name replaces the earlier in place") {
    auto cfg =
        parse(web("env = A=1\nenv = B=x=y\nenv = A=3\nenv = AB=4\nenv = C=\n"), "lab.ini", false);
    CHECK(cfg.containers[0].env == std::vector<std::string>{"A=3", "B=x=y", "AB=4", "C="});
}

TEST_CASE("config: relative paths resolve against the config file's folder") {
    auto cwd = fs::current_path();
    auto rootfs = [](std::string_view value, const fs::path& file) {
        auto text = "[container web]\nrootfs = " + std::string(value) + "\ncommand = x\n";
        return parse(text, file, false).containers.at(0).rootfs;
    };
    CHECK(rootfs("img/web", "conf/lab.ini") == cwd / "conf/img/web");
    CHECK(rootfs("../img/./web/", "conf/lab.ini") == cwd / "img/web");
    CHECK(rootfs("web", "lab.ini") == cwd / "web");
    CHECK(rootfs("web", "/etc/ctr/lab.ini") == "/etc/ctr/web");
    CHECK(rootfs("/srv/web/", "/etc/ctr/lab.ini") == "/srv/web");
    CHECK(rootfs("/", "/etc/ctr/lab.ini") == "/");

    auto cfg =
        parse("[supervisor]\nsocket = ctr.sock\nstate_dir = ../state\n", "/etc/ctr/lab.ini", false);
    CHECK(cfg.sup.socket == "/etc/ctr/ctr.sock");
    CHECK(cfg.sup.state_dir == "/etc/state");
}

TEST_CASE("config: unknown key") {
    CHECK(error_of("[container web]\nrootfs = /srv/web\ncomand = httpd\ncommand = httpd\n") ==
          "conf/lab.ini:3: unknown key 'comand' in [container web]");
    CHECK(error_of("[supervisor]\nrootfs = /x\n") ==
          "conf/lab.ini:2: unknown key 'rootfs' in [supervisor]");
}

TEST_CASE("config: unknown section, whose keys are not reported one by one") {
    CHECK(error_of("[containers web]\nrootfs = /srv/web\n\n[network]\n") ==
          "conf/lab.ini:1: unknown section [containers web]\n"
          "conf/lab.ini:4: unknown section [network]");
}

TEST_CASE("config: bad values") {
    CHECK(error_of(web("restart = sometimes\n")) ==
          "conf/lab.ini:4: bad restart 'sometimes' in [container web]: expected no, on-failure or "
          "always");
    CHECK(error_of(web("tty = maybe\n")) ==
          "conf/lab.ini:4: bad tty 'maybe' in [container web]: expected true/false, yes/no, 1/0 "
          "or on/off");
    CHECK(error_of(web("stop_timeout = 10 parsecs\n")) ==
          "conf/lab.ini:4: bad stop_timeout '10 parsecs' in [container web]: unknown unit; "
          "expected ms, s, m or h");
    CHECK(error_of("[supervisor]\nstop_timeout = -1s\n") ==
          "conf/lab.ini:2: bad stop_timeout '-1s' in [supervisor]: expected a number with an "
          "optional unit: ms, s, m, h");
    CHECK(error_of(web("env = =x\n")) ==
          "conf/lab.ini:4: bad env '=x' in [container web]: empty variable name");
    CHECK(error_of(web("env = FOO\n")) ==
          "conf/lab.ini:4: bad env 'FOO' in [container web]: expected NAME=VALUE");
    CHECK(error_of(web("workdir = srv\n")) ==
          "conf/lab.ini:4: bad workdir 'srv' in [container web]: must be an absolute path");
    CHECK(error_of(web("hostname = -web\n")) ==
          "conf/lab.ini:4: bad hostname '-web' in [container web]: a label starts or ends with "
          "'-'");
    CHECK(error_of(web("hostname = " + std::string(65, 'h') + "\n")) ==
          "conf/lab.ini:4: bad hostname '" + std::string(65, 'h') +
              "' in [container web]: longer than 64 characters");
    CHECK(error_of("[supervisor]\nsocket =\n") ==
          "conf/lab.ini:2: bad socket '' in [supervisor]: empty path");
}

TEST_CASE("config: replicas must be a whole number from 1 to 1000") {
    for (auto bad : {"0", "1001", "2x", "-1", "+2", "", "1.5", "99999999999"})
        CHECK(error_of(web("replicas = " + std::string(bad) + "\n")) ==
              "conf/lab.ini:4: bad replicas '" + std::string(bad) +
                  "' in [container web]: expected a whole number from 1 to 1000");
    CHECK(parse(web("replicas = 1000\n"), "lab.ini", false).containers.size() == 1000);
}

TEST_CASE("config: bad command") {
    CHECK(error_of("[container web]\nrootfs = /r\ncommand =\n") ==
          "conf/lab.ini:3: bad command '' in [container web]: empty command");
    CHECK(error_of("[container web]\nrootfs = /r\ncommand = sh -c 'echo\n") ==
          "conf/lab.ini:3: bad command 'sh -c 'echo' in [container web]: unterminated single "
          "quote");
}

TEST_CASE("config: a NUL byte in a value") {
    using namespace std::string_literals;
    CHECK(error_of("[container web]\nrootfs = /r\ncommand = a\0b\n"s) ==
          "conf/lab.ini:3: bad command 'a\\x00b' in [container web]: contains a NUL byte");
}

TEST_CASE("config: a key that may appear once, given twice") {
    CHECK(error_of("[container web]\nrootfs = /r\ncommand = a\ncommand = b\n") ==
          "conf/lab.ini:4: duplicate key 'command' in [container web] (first at line 3)");
    CHECK(error_of("[supervisor]\nsocket = /a\n\nsocket = /b\n") ==
          "conf/lab.ini:4: duplicate key 'socket' in [supervisor] (first at line 2)");
}

TEST_CASE("config: missing required keys are reported at the section header") {
    CHECK(error_of("\n[container web]\nrootfs = /srv/web\n") ==
          "conf/lab.ini:2: missing key 'command' in [container web]");
    CHECK(error_of("[container web]\ncommand = httpd\n") ==
          "conf/lab.ini:1: missing key 'rootfs' in [container web]");
    CHECK(error_of("[container web]\n") == "conf/lab.ini:1: missing key 'rootfs' in [container "
                                           "web]\nconf/lab.ini:1: missing key 'command' in "
                                           "[container web]");
}

TEST_CASE("config: duplicate container names") {
    CHECK(error_of(web("") + "[container db]\nrootfs=/r\ncommand=x\n" + web("")) ==
          "conf/lab.ini:7: duplicate section [container web] (first at line 1)");
}

TEST_CASE("config: replica names clash with another container") {
    // The replicas come first: the later section is the one in the wrong.
    CHECK(error_of(web("replicas = 2\n") + "[container web-2]\nrootfs=/r\ncommand=x\n") ==
          "conf/lab.ini:5: [container web-2] clashes with replica 'web-2' of [container web] "
          "(line 4)");
    // The replicas come last: reported at their replicas key.
    CHECK(error_of("[container web-1]\nrootfs=/r\ncommand=x\n" + web("replicas = 2\n")) ==
          "conf/lab.ini:7: replica 'web-1' of [container web] clashes with [container web-1] "
          "(line 1)");
    // Not a clash: a-1 with replicas makes a-1-1.
    CHECK(parse("[container a]\nrootfs=/r\ncommand=x\nreplicas=11\n"
                "[container a-1]\nrootfs=/r\ncommand=x\nreplicas=1\n",
                "lab.ini", false)
              .containers.size() == 12);
}

TEST_CASE("config: invalid container names") {
    CHECK(error_of("[container a/b]\nrootfs=/r\ncommand=x\n") ==
          "conf/lab.ini:1: invalid container name 'a/b': contains '/'; only letters, digits, '_', "
          "'.' and '-' are allowed");
    CHECK(error_of("[container ..]\nrootfs=/r\ncommand=x\n") ==
          "conf/lab.ini:1: invalid container name '..': '.' and '..' are not names");
    auto long_name = std::string(64, 'a');
    CHECK(error_of("[container " + long_name + "]\nrootfs=/r\ncommand=x\n") ==
          "conf/lab.ini:1: invalid container name '" + long_name + "': longer than 63 characters");
    CHECK(error_of("[container]\nrootfs=/r\ncommand=x\n") ==
          "conf/lab.ini:1: section [container] needs a name");
    // Each replica name is a name too: 59 + "-1000" is 64.
    auto base = std::string(59, 'b');
    CHECK(error_of("[container " + base + "]\nrootfs=/r\ncommand=x\nreplicas = 1000\n") ==
          "conf/lab.ini:4: replica names of [container " + base +
              "] are invalid: longer than 63 characters");
    CHECK(
        parse("[container " + base + "]\nrootfs=/r\ncommand=x\nreplicas = 999\n", "lab.ini", false)
            .containers.back()
            .name == base + "-999");
}

TEST_CASE("config: [supervisor] takes no name and appears once") {
    CHECK(error_of("[supervisor main]\n") == "conf/lab.ini:1: section [supervisor] takes no name");
    CHECK(error_of("[supervisor]\nsocket=/a\n[supervisor]\nsocket=/b\n") ==
          "conf/lab.ini:3: duplicate section [supervisor] (first at line 1)");
}

TEST_CASE("config: every problem in the file, in line order") {
    std::string text = "[container web]\n"     // 1: missing command
                       "rootfs = /srv/web\n"   // 2
                       "tty = perhaps\n"       // 3: bad bool
                       "[supervisor]\n"        // 4
                       "this line is broken\n" // 5: syntax, from the INI reader
                       "stop_timeout = soon\n" // 6: bad duration
                       "[container web]\n"     // 7: duplicate
                       "rootfs = /r\n"         // 8
                       "command = x\n"         // 9
                       "colour = blue\n";      // 10: unknown key
    try {
        parse(text, "conf/lab.ini", false);
        FAIL("no config_error");
    } catch (const config_error& e) {
        REQUIRE(e.problems().size() == 6);
        CHECK(std::string(e.what()) ==
              "conf/lab.ini:1: missing key 'command' in [container web]\n"
              "conf/lab.ini:3: bad tty 'perhaps' in [container web]: expected true/false, yes/no, "
              "1/0 or on/off\n"
              "conf/lab.ini:5: expected 'key = value' or '[section]'\n"
              "conf/lab.ini:6: bad stop_timeout 'soon' in [supervisor]: expected a number with an "
              "optional unit: ms, s, m, h\n"
              "conf/lab.ini:7: duplicate section [container web] (first at line 1)\n"
              "conf/lab.ini:10: unknown key 'colour' in [container web]");
    }
}

TEST_CASE("config: INI syntax errors carry the file and line") {
    CHECK(error_of("k = v\n[a\n") == "conf/lab.ini:1: key 'k' outside any section\n"
                                     "conf/lab.ini:2: unterminated section header");
}

TEST_CASE("config: rootfs must be a real directory when paths are checked") {
    temp_dir tmp;
    fs::create_directory(tmp.path / "dir");
    std::ofstream(tmp.path / "file") << "x";
    fs::create_directory_symlink(tmp.path / "dir", tmp.path / "link");
    auto file = tmp.path / "lab.ini";
    auto rootfs_error = [&](std::string_view value) {
        return error_of("[container web]\nrootfs = " + std::string(value) + "\ncommand = x\n", file,
                        true);
    };
    auto prefix = file.string() + ":2: bad rootfs '";

    CHECK(rootfs_error("dir") == "no error");
    CHECK(parse("[container web]\nrootfs = dir\ncommand = x\n", file).containers[0].rootfs ==
          tmp.path / "dir");
    CHECK(rootfs_error("file") == prefix + "file' in [container web]: " +
                                      (tmp.path / "file").string() + " is not a directory");
    CHECK(rootfs_error("link") ==
          prefix + "link' in [container web]: " + (tmp.path / "link").string() + " is a symlink");
    // A trailing slash would make lstat follow the link.
    CHECK(rootfs_error("link/") ==
          prefix + "link/' in [container web]: " + (tmp.path / "link").string() + " is a symlink");
    CHECK(rootfs_error("missing") == prefix + "missing' in [container web]: " +
                                         (tmp.path / "missing").string() + " does not exist");
    CHECK(rootfs_error("file/x") == prefix + "file/x' in [container web]: " +
                                        (tmp.path / "file/x").string() + ": Not a directory");
}

TEST_CASE("config: load") {
    temp_dir tmp;
    fs::create_directory(tmp.path / "rootfs");
    auto file = tmp.path / "lab.ini";
    std::ofstream(file) << "[container web]\nrootfs = rootfs\ncommand = /bin/sh\n";
    auto cfg = load(file);
    CHECK(cfg.file == file);
    REQUIRE(cfg.containers.size() == 1);
    CHECK(cfg.containers[0].rootfs == tmp.path / "rootfs");

    auto load_error = [](const fs::path& f) {
        try {
            load(f);
        } catch (const config_error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(load_error(tmp.path / "nope.ini") ==
          (tmp.path / "nope.ini").string() + ": cannot read: No such file or directory");
    CHECK(load_error(tmp.path) == tmp.path.string() + ": cannot read: Is a directory");
}

TEST_CASE("invalid_name_reason") {
    CHECK_FALSE(invalid_name_reason("web"));
    CHECK_FALSE(invalid_name_reason("Web_1.test-2"));
    CHECK_FALSE(invalid_name_reason("0"));
    CHECK_FALSE(invalid_name_reason(std::string(63, 'x')));
    CHECK(invalid_name_reason("") == "empty");
    CHECK(invalid_name_reason(".") == "'.' and '..' are not names");
    CHECK(invalid_name_reason("..") == "'.' and '..' are not names");
    CHECK(invalid_name_reason(".hidden") == "must start with a letter or digit");
    CHECK(invalid_name_reason("-x") == "must start with a letter or digit");
    CHECK(invalid_name_reason(std::string(64, 'x')) == "longer than 63 characters");
    CHECK(invalid_name_reason("a b") ==
          "contains ' '; only letters, digits, '_', '.' and '-' are allowed");
    CHECK(invalid_name_reason("a\nb") ==
          "contains '\\x0a'; only letters, digits, '_', '.' and '-' are allowed");
}

TEST_CASE("invalid_hostname_reason") {
    CHECK_FALSE(invalid_hostname_reason("web"));
    CHECK_FALSE(invalid_hostname_reason("web-1.example.com"));
    CHECK_FALSE(invalid_hostname_reason(std::string(63, 'h')));
    CHECK(invalid_hostname_reason("") == "empty");
    CHECK(invalid_hostname_reason("a..b") == "empty label between dots");
    CHECK(invalid_hostname_reason("a.") == "empty label between dots");
    CHECK(invalid_hostname_reason(std::string(64, 'h')) == "label longer than 63 characters");
    CHECK(invalid_hostname_reason("a.b-") == "a label starts or ends with '-'");
    CHECK(invalid_hostname_reason("a_b") ==
          "contains '_'; only letters, digits, '-' and '.' are allowed");
}

TEST_CASE("parse_duration") {
    CHECK(parse_duration("10s") == 10s);
    CHECK(parse_duration("500ms") == 500ms);
    CHECK(parse_duration("2m") == 2min);
    CHECK(parse_duration("1h") == 1h);
    CHECK(parse_duration("1.5") == 1500ms);
    CHECK(parse_duration("0") == 0ms);
    CHECK(parse_duration(".25s") == 250ms);
    CHECK(parse_duration("0.5m") == 30s);
    CHECK(parse_duration("1.0005s") == 1000ms); // below a millisecond is dropped
    CHECK(parse_duration("8760h") == 8760h);
    CHECK(duration_error("") == "expected a number with an optional unit: ms, s, m, h");
    CHECK(duration_error("s") == "expected a number with an optional unit: ms, s, m, h");
    CHECK(duration_error("-1") == "expected a number with an optional unit: ms, s, m, h");
    CHECK(duration_error("1.") == "expected digits after '.'");
    CHECK(duration_error("10x") == "unknown unit; expected ms, s, m or h");
    CHECK(duration_error("1 s") == "unknown unit; expected ms, s, m or h");
    CHECK(duration_error("8761h") == "too long (at most 8760h)");
    CHECK(duration_error("99999999999999999999999") == "too long (at most 8760h)");
}

TEST_CASE("restart_policy to_string") {
    CHECK(std::string(to_string(restart_policy::no)) == "no");
    CHECK(std::string(to_string(restart_policy::on_failure)) == "on-failure");
    CHECK(std::string(to_string(restart_policy::always)) == "always");
}

TEST_CASE("config: arbitrary input either parses or throws config_error") {
    std::uint64_t state = 0x2545f4914f6cdd1du;
    auto next = [&] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    const std::string_view pieces[] = {
        "[container ",  "[supervisor]", "]",   "\n",    " = ", "rootfs", "command", "env",
        "replicas",     "1000",         "web", "web-1", "'",   "\"",     "\\",      "=",
        "stop_timeout", "1.5h",         "tty", "#",     "\x01"};
    for (int round = 0; round < 500; ++round) {
        std::string text;
        auto n = next() % 40;
        for (std::uint64_t i = 0; i < n; ++i)
            text += pieces[next() % std::size(pieces)];
        try {
            parse(text, "fuzz.ini", false);
        } catch (const config_error& e) {
            CHECK_FALSE(e.problems().empty());
        }
    }
}
