#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "ctr/config/config.hpp"

using ctr::config::split_command;
using words = std::vector<std::string>;

namespace {

std::string error_of(std::string_view s) {
    try {
        split_command(s);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

TEST_CASE("split_command: plain words and whitespace") {
    CHECK(split_command("/bin/sh") == words{"/bin/sh"});
    CHECK(split_command("  ls \t -l   /  ") == words{"ls", "-l", "/"});
}

TEST_CASE("split_command: empty and blank input give no words") {
    CHECK(split_command("").empty());
    CHECK(split_command(" \t ").empty());
}

TEST_CASE("split_command: single quotes keep everything literally") {
    CHECK(split_command(R"(sh -c 'echo "$HOME" \n')") == words{"sh", "-c", R"(echo "$HOME" \n)"});
}

TEST_CASE("split_command: double quotes with their four escapes") {
    CHECK(split_command(R"(echo "a b" "\"q\"" "\\" "\$x" "\`")") ==
          words{"echo", "a b", "\"q\"", "\\", "$x", "`"});
    // Any other backslash stays, as in sh.
    CHECK(split_command(R"("a\nb")") == words{R"(a\nb)"});
}

TEST_CASE("split_command: backslash escapes outside quotes") {
    CHECK(split_command(R"(a\ b c\'d \"e\\)") == words{"a b", "c'd", "\"e\\"});
}

TEST_CASE("split_command: quoted parts join the word around them; '' is an empty word") {
    CHECK(split_command(R"(--opt='a b'"c"d)") == words{"--opt=a bcd"});
    CHECK(split_command("a '' \"\" b") == words{"a", "", "", "b"});
}

TEST_CASE("split_command: no expansion") {
    CHECK(split_command("echo $HOME ~ * $(id)") == words{"echo", "$HOME", "~", "*", "$(id)"});
}

TEST_CASE("split_command: errors") {
    CHECK(error_of("echo 'abc") == "unterminated single quote");
    CHECK(error_of(R"(echo "abc)") == "unterminated double quote");
    CHECK(error_of(R"(echo "abc\")") == "unterminated double quote");
    CHECK(error_of(R"(echo abc\)") == "trailing backslash");
}
