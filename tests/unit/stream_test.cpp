// Stream frames (attach, logs, exec): their types in the codec, and the resize and signal
// payloads.
#include "common/frame_bytes.hpp"
#include <array>
#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "ctr/control/protocol.hpp"
#include "ctr/control/stream.hpp"

using namespace ctr::control;
using ctr::test::decode;
using ctr::test::raw_header;

namespace {

std::string error_of(auto&& f) {
    try {
        f();
    } catch (const protocol_error& e) {
        return e.what();
    }
    return "no error";
}

constexpr frame_type all_types[] = {
    frame_type::request,     frame_type::response, frame_type::stdin_data, frame_type::stdout_data,
    frame_type::stderr_data, frame_type::resize,   frame_type::signal,     frame_type::close_stdin,
    frame_type::detach,      frame_type::exit,     frame_type::error,
};

} // namespace

TEST_CASE("stream: the frame types are numbered 1 to 11 on the wire") {
    CHECK(std::size(all_types) == last_frame_type);
    for (std::size_t i = 0; i < std::size(all_types); ++i)
        CHECK(static_cast<std::size_t>(all_types[i]) == i + 1);
}

TEST_CASE("stream: decode_header takes types 1 to 11 and refuses 0 and 12 up") {
    for (int t = 1; t <= last_frame_type; ++t) {
        CAPTURE(t);
        header h = decode(raw_header(7, static_cast<std::uint8_t>(t)));
        CHECK(static_cast<int>(h.type) == t);
        CHECK(h.length == 7);
    }
    for (int t : {0, 12, 13, 0x80, 0xff}) {
        CAPTURE(t);
        CHECK(error_of([&] { decode(raw_header(0, static_cast<std::uint8_t>(t))); }) ==
              "unknown frame type " + std::to_string(t));
        CHECK_THROWS_AS(encode_frame(static_cast<frame_type>(t), ""), protocol_error);
    }
}

TEST_CASE("stream: every type survives encode and the incremental decoder") {
    std::string stream;
    std::vector<frame> sent;
    for (auto t : all_types) {
        std::string payload = "payload of " + std::to_string(static_cast<int>(t));
        payload.push_back('\0');
        sent.push_back({t, payload});
        stream += encode_frame(t, payload);
    }
    frame_decoder d;
    std::vector<frame> got;
    for (char c : stream) { // one byte at a time: every split point
        d.feed(std::string_view(&c, 1));
        while (auto f = d.next())
            got.push_back(std::move(*f));
    }
    REQUIRE(got.size() == sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) {
        CHECK(got[i].type == sent[i].type);
        CHECK(got[i].payload == sent[i].payload);
    }
}

TEST_CASE("stream: output frames of exactly max_frame pass, one byte more is refused early") {
    std::string full(max_frame, 'y');
    frame_decoder d;
    d.feed(encode_frame(frame_type::stdout_data, full));
    auto f = d.next();
    REQUIRE(f);
    CHECK(f->payload.size() == max_frame);

    CHECK(error_of([&] { encode_frame(frame_type::stdout_data, full + "y"); }) ==
          "frame of 1048577 bytes exceeds the limit of 1048576 bytes");
    frame_decoder big;
    big.feed(raw_header(max_frame + 1, static_cast<std::uint8_t>(frame_type::stdin_data)));
    CHECK(error_of([&] { big.next(); }) ==
          "frame of 1048577 bytes exceeds the limit of 1048576 bytes");
}

TEST_CASE("stream: garbage after good frames yields the good ones, then an error") {
    frame_decoder d;
    d.feed(encode_frame(frame_type::stdout_data, "hello") + encode_frame(frame_type::exit, "{}") +
           std::string("\0\0\0\x01\x2a"
                       "x",
                       6));
    auto a = d.next();
    REQUIRE(a);
    CHECK(a->payload == "hello");
    auto b = d.next();
    REQUIRE(b);
    CHECK(b->type == frame_type::exit);
    CHECK(error_of([&] { d.next(); }) == "unknown frame type 42");

    // Text where a header should be: "HTTP/" reads as a huge length.
    frame_decoder http;
    http.feed("GET / HTTP/1.1\r\n");
    CHECK_THROWS_AS(http.next(), protocol_error);
}

TEST_CASE("stream: resize payloads are rows then cols, big-endian u16") {
    CHECK(encode_resize({24, 80}) == std::string("\0\x18\0\x50", 4));
    CHECK(encode_resize({0x1234, 0xabcd}) == "\x12\x34\xab\xcd");
    for (window_size ws :
         {window_size{24, 80}, window_size{0, 0}, window_size{65535, 65535}, window_size{1, 300}}) {
        CHECK(decode_resize(encode_resize(ws)) == ws);
    }
    CHECK(decode_resize("\x12\x34\xab\xcd") == window_size{0x1234, 0xabcd});
}

TEST_CASE("stream: a resize payload of any other length is refused") {
    CHECK(error_of([] { decode_resize(""); }) == "resize frame of 0 bytes");
    CHECK(error_of([] { decode_resize("abc"); }) == "resize frame of 3 bytes");
    CHECK(error_of([] { decode_resize("abcde"); }) == "resize frame of 5 bytes");
}

TEST_CASE("stream: signal payloads are one byte from 1 to 64") {
    CHECK(encode_signal(SIGINT) == "\x02");
    for (int sig : {1, SIGTERM, SIGKILL, SIGWINCH, 64})
        CHECK(decode_signal(encode_signal(sig)) == sig);
    CHECK(error_of([] { decode_signal(""); }) == "signal frame of 0 bytes");
    CHECK(error_of([] { decode_signal("\x02\x02"); }) == "signal frame of 2 bytes");
    CHECK(error_of([] { decode_signal(std::string(1, '\0')); }) == "signal 0 out of range");
    CHECK(error_of([] { decode_signal("\x41"); }) == "signal 65 out of range");
    CHECK(error_of([] { decode_signal("\xff"); }) == "signal 255 out of range");
}

TEST_CASE("stream: only input and control frames may come from the client") {
    for (auto t : {frame_type::stdin_data, frame_type::resize, frame_type::signal,
                   frame_type::close_stdin, frame_type::detach})
        CHECK(client_may_send(t));
    for (auto t : {frame_type::request, frame_type::response, frame_type::stdout_data,
                   frame_type::stderr_data, frame_type::exit, frame_type::error})
        CHECK_FALSE(client_may_send(t));
}
