// Detach keys: Docker's syntax, and the matcher that watches the client's input for them.
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "ctr/core/error.hpp"
#include "ctr/tty/detach_keys.hpp"

using namespace ctr::tty;

namespace {

std::string error_of(std::string_view spec) {
    try {
        parse_detach_keys(spec);
    } catch (const ctr::error& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

TEST_CASE("detach keys: the default is Docker's ctrl-p ctrl-q") {
    CHECK(parse_detach_keys(default_detach_keys) == "\x10\x11");
}

TEST_CASE("detach keys: every ctrl- key types its control character") {
    for (char c = 'a'; c <= 'z'; ++c) {
        CAPTURE(c);
        char code = static_cast<char>(c - 'a' + 1);
        CHECK(parse_detach_keys(std::string("ctrl-") + c) == std::string(1, code));
        // Case does not matter, neither in the letter nor in "ctrl".
        CHECK(parse_detach_keys(std::string("CTRL-") + static_cast<char>(c - 32)) ==
              std::string(1, code));
    }
    CHECK(parse_detach_keys("ctrl-@") == std::string(1, '\0'));
    CHECK(parse_detach_keys("ctrl-[") == "\x1b");
    CHECK(parse_detach_keys("ctrl-\\") == "\x1c");
    CHECK(parse_detach_keys("ctrl-]") == "\x1d");
    CHECK(parse_detach_keys("ctrl-^") == "\x1e");
    CHECK(parse_detach_keys("ctrl-_") == "\x1f");
}

TEST_CASE("detach keys: single printable characters stand for themselves") {
    CHECK(parse_detach_keys("q") == "q");
    CHECK(parse_detach_keys("Q") == "Q");
    CHECK(parse_detach_keys("ctrl-d,d") == "\x04"
                                           "d");
    CHECK(parse_detach_keys("~,.") == "~.");
    CHECK(parse_detach_keys("ctrl-p,ctrl-p,ctrl-q") == "\x10\x10\x11");
    CHECK(parse_detach_keys(" ctrl-p , ctrl-q ") == "\x10\x11");
}

TEST_CASE("detach keys: bad specs name the key and say what is allowed") {
    CHECK(error_of("") == "detach keys '': empty, expected keys like ctrl-p,ctrl-q");
    CHECK(error_of("  ") == "detach keys '  ': empty, expected keys like ctrl-p,ctrl-q");
    CHECK(error_of("ctrl-p,,ctrl-q") ==
          "detach keys 'ctrl-p,,ctrl-q': an empty key between commas");
    CHECK(error_of("ctrl-p,") == "detach keys 'ctrl-p,': an empty key between commas");
    std::string allowed = "expected ctrl-a ... ctrl-z, ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, "
                          "ctrl-_ or one printable character";
    CHECK(error_of("ctrl-p,ctrl-1") ==
          "detach keys 'ctrl-p,ctrl-1': unknown key 'ctrl-1': " + allowed);
    for (auto bad : {"ctrl-", "ctrl-pq", "ctr-p", "alt-p", "ctrl-?", "pq", "DEL", "\x7f", "\x01",
                     "\xc3\xa9", "ctrl- p"}) {
        CAPTURE(bad);
        CHECK(error_of(bad) ==
              fmt::format("detach keys '{}': unknown key '{}': {}", bad, bad, allowed));
    }
}

TEST_CASE("detach matcher: the sequence detaches and is never forwarded") {
    detach_matcher m(parse_detach_keys("ctrl-p,ctrl-q"));
    auto r = m.feed("ls\r\x10\x11");
    CHECK(r.forward == "ls\r");
    CHECK(r.detach);
}

TEST_CASE("detach matcher: ordinary input passes whole") {
    detach_matcher m("\x10\x11");
    std::string big(100000, 'x');
    auto r = m.feed(big);
    CHECK(r.forward == big);
    CHECK_FALSE(r.detach);
    CHECK(m.flush().empty());
}

TEST_CASE("detach matcher: a sequence split across feeds is held, then detaches") {
    detach_matcher m("\x10\x11");
    auto a = m.feed("echo\x10");
    CHECK(a.forward == "echo");
    CHECK_FALSE(a.detach);
    auto b = m.feed("\x11");
    CHECK(b.forward.empty());
    CHECK(b.detach);

    detach_matcher three("abc");
    CHECK(three.feed("a").forward.empty());
    CHECK(three.feed("b").forward.empty());
    CHECK(three.feed("c").detach);
}

TEST_CASE("detach matcher: a broken prefix is forwarded in order with what broke it") {
    detach_matcher m("\x10\x11");
    auto a = m.feed("\x10");
    CHECK(a.forward.empty());
    auto b = m.feed("x");
    CHECK(b.forward == "\x10x");
    CHECK_FALSE(b.detach);

    // Broken inside one feed too, then matched afterwards.
    auto c = m.feed("1\x10"
                    "2\x10\x11");
    CHECK(c.forward == "1\x10"
                       "2");
    CHECK(c.detach);

    detach_matcher three("abc");
    auto d = three.feed("abx");
    CHECK(d.forward == "abx");
    auto e = three.feed("ab");
    CHECK(e.forward.empty());
    auto f = three.feed("d");
    CHECK(f.forward == "abd");
}

TEST_CASE("detach matcher: a repeated first key overlaps its own prefix") {
    // ctrl-p ctrl-p ctrl-q against ctrl-p,ctrl-q: the first ctrl-p is sent, the rest detaches.
    detach_matcher pq("\x10\x11");
    auto r = pq.feed("\x10\x10\x11");
    CHECK(r.forward == "\x10");
    CHECK(r.detach);

    // Against ctrl-p,ctrl-p,ctrl-q, typing ctrl-p three times then ctrl-q must detach, with one
    // ctrl-p sent; split over feeds the same.
    detach_matcher ppq("\x10\x10\x11");
    auto s = ppq.feed("\x10\x10\x10\x11");
    CHECK(s.forward == "\x10");
    CHECK(s.detach);

    detach_matcher split("\x10\x10\x11");
    std::string sent;
    bool detached = false;
    for (char c : std::string("a\x10\x10\x10\x10\x11")) {
        auto step = split.feed(std::string(1, c));
        sent += step.forward;
        detached = step.detach;
    }
    CHECK(sent == "a\x10\x10");
    CHECK(detached);

    // A sequence overlapping itself: in "ababac" the second "ab" starts the real "abac".
    detach_matcher abac("abac");
    auto t = abac.feed("ababac");
    CHECK(t.forward == "ab");
    CHECK(t.detach);
}

TEST_CASE("detach matcher: bytes after the sequence are dropped, also in later feeds") {
    detach_matcher m("\x10\x11");
    auto r = m.feed("a\x10\x11"
                    "rm -rf /\r");
    CHECK(r.forward == "a");
    CHECK(r.detach);
    auto later = m.feed("more");
    CHECK(later.forward.empty());
    CHECK(later.detach);
    CHECK(m.flush().empty());
}

TEST_CASE("detach matcher: flush hands back what is held, once") {
    detach_matcher m("abc");
    CHECK(m.feed("xab").forward == "x");
    CHECK(m.flush() == "ab");
    CHECK(m.flush().empty());
    // After a flush matching starts afresh.
    CHECK(m.feed("c").forward == "c");
    CHECK(m.flush().empty());
}

TEST_CASE("detach matcher: an empty sequence never detaches") {
    detach_matcher m("");
    auto r = m.feed("\x10\x11");
    CHECK(r.forward == "\x10\x11");
    CHECK_FALSE(r.detach);
    CHECK(m.flush().empty());
}
