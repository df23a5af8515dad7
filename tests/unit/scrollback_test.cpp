// The scrollback ring replayed to a client when it attaches.
#include <string>

#include <doctest/doctest.h>

#include "ctr/tty/scrollback.hpp"

using ctr::tty::scrollback;

TEST_CASE("scrollback: empty holds nothing") {
    scrollback r(8);
    CHECK(r.size() == 0);
    CHECK(r.capacity() == 8);
    CHECK(r.contents().empty());
    r.append("");
    CHECK(r.contents().empty());
}

TEST_CASE("scrollback: the default holds 64 KiB") {
    CHECK(scrollback().capacity() == 64 * 1024);
}

TEST_CASE("scrollback: below capacity everything is kept in order") {
    scrollback r(8);
    r.append("ab");
    r.append("cde");
    CHECK(r.contents() == "abcde");
    CHECK(r.size() == 5);
}

TEST_CASE("scrollback: exactly full keeps every byte") {
    scrollback r(8);
    r.append("abcd");
    r.append("efgh");
    CHECK(r.contents() == "abcdefgh");
    CHECK(r.size() == 8);
    scrollback once(8);
    once.append("abcdefgh");
    CHECK(once.contents() == "abcdefgh");
}

TEST_CASE("scrollback: past capacity the oldest bytes go, across the wrap") {
    scrollback r(8);
    r.append("abcdef");
    r.append("ghij"); // wraps: ab forgotten
    CHECK(r.contents() == "cdefghij");
    r.append("k");
    CHECK(r.contents() == "defghijk");
    r.append("lmnopq");
    CHECK(r.contents() == "jklmnopq");
    CHECK(r.size() == 8);

    // Byte by byte, many times round: always the last 8.
    scrollback s(8);
    std::string all;
    for (int i = 0; i < 100; ++i) {
        char c = static_cast<char>('a' + i % 26);
        all.push_back(c);
        s.append(std::string(1, c));
        CHECK(s.contents() == all.substr(all.size() > 8 ? all.size() - 8 : 0));
    }
}

TEST_CASE("scrollback: a chunk bigger than the capacity leaves its tail") {
    scrollback r(8);
    r.append("xyz");
    r.append("0123456789abc");
    CHECK(r.contents() == "56789abc");
    r.append("de");
    CHECK(r.contents() == "789abcde");
}

TEST_CASE("scrollback: clear empties and the ring is reusable") {
    scrollback r(4);
    r.append("abcdef");
    r.clear();
    CHECK(r.size() == 0);
    CHECK(r.contents().empty());
    r.append("gh");
    CHECK(r.contents() == "gh");
    r.append("ijk");
    CHECK(r.contents() == "hijk");
}

TEST_CASE("scrollback: binary bytes pass untouched") {
    scrollback r(4);
    r.append(std::string("\0\xff\x1b[", 4));
    CHECK(r.contents() == std::string("\0\xff\x1b[", 4));
}

TEST_CASE("scrollback: a zero capacity keeps nothing") {
    scrollback r(0);
    r.append("abc");
    CHECK(r.contents().empty());
}

namespace {
using ctr::tty::stream;
std::string describe(const scrollback& r) {
    std::string out;
    for (auto& p : r.pieces())
        out += (p.from == stream::err ? "E:" : "O:") + p.bytes + "|";
    return out;
}
} // namespace

TEST_CASE("scrollback: a terminal's ring is one stdout piece") {
    scrollback r(8);
    CHECK(r.pieces().empty());
    r.append("abc");
    r.append("defghij");
    CHECK(describe(r) == "O:cdefghij|");
}

TEST_CASE("scrollback: stderr is replayed as stderr, in order, across the wrap") {
    scrollback r(8);
    r.append("ab");
    r.append("CD", stream::err);
    r.append("ef");
    CHECK(describe(r) == "O:ab|E:CD|O:ef|");
    CHECK(r.contents() == "abCDef");
    r.append("GHI", stream::err); // wraps: "a" goes
    CHECK(describe(r) == "O:b|E:CD|O:ef|E:GHI|");
    r.append("JK", stream::err); // "b" and "C" go
    CHECK(describe(r) == "E:D|O:ef|E:GHIJK|");
    r.append("jklmnopqrs"); // longer than the ring
    CHECK(describe(r) == "O:lmnopqrs|");
    r.append("T", stream::err);
    CHECK(describe(r) == "O:mnopqrs|E:T|");
}
