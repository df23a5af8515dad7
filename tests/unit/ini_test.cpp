#include <cstdint>
#include <string>

#include <doctest/doctest.h>

#include "ctr/config/ini.hpp"

namespace ini = ctr::config::ini;

namespace {

std::string problems_of(std::string_view text) {
    std::string out;
    for (const auto& p : ini::read(text).problems)
        out += std::to_string(p.line) + ": " + p.message + "\n";
    return out;
}

} // namespace

TEST_CASE("ini: sections, entries and line numbers") {
    auto doc = ini::read("# leading comment\n"
                         "[supervisor]\n"
                         "  socket =  /run/x.sock  \n"
                         "\n"
                         "; another comment\n"
                         "[container web]\n"
                         "env = A=1\n"
                         "env=B = 2\n"
                         "empty =\n"
                         "\t[ container   db  ]\t\n"
                         "command = sh -c 'echo # not a comment'\n");
    CHECK(doc.problems.empty());
    REQUIRE(doc.sections.size() == 3);

    CHECK(doc.sections[0].kind == "supervisor");
    CHECK(doc.sections[0].name == "");
    CHECK(doc.sections[0].line == 2);
    REQUIRE(doc.sections[0].entries.size() == 1);
    CHECK(doc.sections[0].entries[0].key == "socket");
    CHECK(doc.sections[0].entries[0].value == "/run/x.sock");
    CHECK(doc.sections[0].entries[0].line == 3);

    const auto& web = doc.sections[1];
    CHECK(web.kind == "container");
    CHECK(web.name == "web");
    CHECK(web.line == 6);
    REQUIRE(web.entries.size() == 3);
    CHECK(web.entries[0].key == "env");
    CHECK(web.entries[0].value == "A=1");
    CHECK(web.entries[1].key == "env");
    CHECK(web.entries[1].value == "B = 2");
    CHECK(web.entries[1].line == 8);
    CHECK(web.entries[2].key == "empty");
    CHECK(web.entries[2].value == "");

    CHECK(doc.sections[2].kind == "container");
    CHECK(doc.sections[2].name == "db");
    CHECK(doc.sections[2].line == 10);
    REQUIRE(doc.sections[2].entries.size() == 1);
    CHECK(doc.sections[2].entries[0].value == "sh -c 'echo # not a comment'");
}

TEST_CASE("ini: CRLF line ends, a byte order mark and no final newline") {
    auto doc = ini::read("\xef\xbb\xbf[a]\r\nk = v\r\n[b]\r\nx=y");
    CHECK(doc.problems.empty());
    REQUIRE(doc.sections.size() == 2);
    CHECK(doc.sections[0].kind == "a");
    CHECK(doc.sections[0].entries[0].value == "v");
    CHECK(doc.sections[1].entries[0].line == 4);
    CHECK(doc.sections[1].entries[0].value == "y");
}

TEST_CASE("ini: a section name may hold anything but ']'; the config layer validates it") {
    auto doc = ini::read("[container a/b c]\n");
    REQUIRE(doc.sections.size() == 1);
    CHECK(doc.sections[0].name == "a/b c");
}

TEST_CASE("ini: empty input and comments only") {
    CHECK(ini::read("").sections.empty());
    CHECK(ini::read("").problems.empty());
    auto doc = ini::read("# x\n;y\n\n   \n");
    CHECK(doc.sections.empty());
    CHECK(doc.problems.empty());
}

TEST_CASE("ini: malformed lines are problems with their line numbers") {
    CHECK(problems_of("[a]\njust words\n") == "2: expected 'key = value' or '[section]'\n");
    CHECK(problems_of("[a]\n[b\n") == "2: unterminated section header\n");
    CHECK(problems_of("k = v\n") == "1: key 'k' outside any section\n");
    CHECK(problems_of("[a]\n = v\n") == "2: empty key before '='\n");
    CHECK(problems_of("[]\n") == "1: empty section header\n");
    CHECK(problems_of("[  ]\n") == "1: empty section header\n");
    CHECK(problems_of("[a] x\n") == "1: unexpected text after ']' in section header\n");
}

TEST_CASE("ini: reading goes on after a problem, and keys under a broken header are not "
          "reported again") {
    const char* text = "[a\n"
                       "k = v\n"
                       "k2 = v\n"
                       "[b]\n"
                       "nonsense\n"
                       "k = v\n";
    CHECK(problems_of(text) ==
          "1: unterminated section header\n5: expected 'key = value' or '[section]'\n");
    auto doc = ini::read(text);
    REQUIRE(doc.sections.size() == 1);
    CHECK(doc.sections[0].kind == "b");
    REQUIRE(doc.sections[0].entries.size() == 1);
    CHECK(doc.sections[0].entries[0].line == 6);
}

TEST_CASE("ini: arbitrary bytes never crash the reader") {
    // A tiny deterministic generator biased toward the characters the grammar cares about.
    std::uint64_t state = 0x9e3779b97f4a7c15u;
    auto next = [&] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    using namespace std::string_view_literals;
    const auto special = "[]=#; \t\r\n\"'\\\0\xef\xbb\xbf"
                         "container web"sv;
    for (int round = 0; round < 3000; ++round) {
        std::string text;
        auto len = next() % 200;
        for (std::uint64_t i = 0; i < len; ++i) {
            auto r = next();
            text += (r & 1) ? special[(r >> 1) % special.size()] : static_cast<char>(r >> 8);
        }
        auto doc = ini::read(text);
        for (const auto& s : doc.sections) {
            CHECK(s.line >= 1);
            for (const auto& e : s.entries)
                CHECK(!e.key.empty());
        }
    }
}
