// The control socket's framing, and the blocking client against a scripted fake supervisor.
#include "common/frame_bytes.hpp"
#include "common/listening_socket.hpp"
#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "ctr/control/client.hpp"
#include "ctr/control/protocol.hpp"
#include "ctr/core/error.hpp"
#include "ctr/core/unique_fd.hpp"

using namespace ctr::control;

using ctr::test::decode;
using ctr::test::raw_header;

TEST_CASE("a frame survives encode and decode") {
    for (std::string payload : {std::string(), std::string(R"({"op":"ps"})"),
                                std::string("\0\xff binary\n", 10), std::string(max_frame, 'x')}) {
        std::string bytes = encode_frame(frame_type::response, payload);
        CHECK(bytes.size() == header_size + payload.size());
        header h = decode(bytes);
        CHECK(h.type == frame_type::response);
        CHECK(h.length == payload.size());

        frame_decoder d;
        d.feed(bytes);
        auto f = d.next();
        REQUIRE(f);
        CHECK(f->type == frame_type::response);
        CHECK(f->payload == payload);
        CHECK_FALSE(d.next());
    }
}

TEST_CASE("the length is big-endian and counts the payload only") {
    CHECK(encode_frame(frame_type::request, "abc") == std::string("\0\0\0\3\1abc", 8));
    CHECK(decode(raw_header(0x00010203, 2)).length == 0x00010203);
    CHECK(decode(raw_header(max_frame, 1)).length == max_frame);
}

TEST_CASE("an oversized length is refused from the header alone") {
    CHECK_THROWS_AS(decode(raw_header(0xFFFFFFFF, 1)), protocol_error);
    CHECK_THROWS_AS(decode(raw_header(max_frame + 1, 2)), protocol_error);
    CHECK_THROWS_AS(encode_frame(frame_type::request, std::string(max_frame + 1, 'x')),
                    protocol_error);

    // Only the five header bytes are fed: the decoder must not wait for (or buffer toward) the
    // 4 GiB it claims.
    frame_decoder d;
    d.feed(raw_header(0xFFFFFFFF, 1));
    CHECK_THROWS_WITH_AS(d.next(), doctest::Contains("exceeds"), protocol_error);
}

TEST_CASE("an unknown frame type is refused") {
    for (int t : {0, last_frame_type + 1, 0x7f, 0xff}) {
        auto type = static_cast<std::uint8_t>(t);
        CHECK_THROWS_WITH_AS(decode(raw_header(0, type)), doctest::Contains("unknown frame type"),
                             protocol_error);
        frame_decoder d;
        d.feed(raw_header(2, type) + "{}");
        CHECK_THROWS_AS(d.next(), protocol_error);
    }
    CHECK_THROWS_AS(encode_frame(static_cast<frame_type>(last_frame_type + 1), ""), protocol_error);
}

TEST_CASE("truncated input yields no frame until the rest arrives") {
    std::string bytes = encode_frame(frame_type::request, R"({"op":"ps"})");
    frame_decoder d;
    CHECK_FALSE(d.next());
    d.feed(bytes.substr(0, 4));
    CHECK_FALSE(d.next());
    d.feed(bytes.substr(4, 3));
    CHECK_FALSE(d.next());
    d.feed(bytes.substr(7));
    auto f = d.next();
    REQUIRE(f);
    CHECK(f->payload == R"({"op":"ps"})");
}

TEST_CASE("frames fed one byte at a time") {
    std::string stream = encode_frame(frame_type::request, "first") +
                         encode_frame(frame_type::response, "") +
                         encode_frame(frame_type::response, "third");
    frame_decoder d;
    std::vector<frame> got;
    for (char c : stream) {
        d.feed(std::string_view(&c, 1));
        while (auto f = d.next())
            got.push_back(std::move(*f));
    }
    REQUIRE(got.size() == 3);
    CHECK(got[0].type == frame_type::request);
    CHECK(got[0].payload == "first");
    CHECK(got[1].payload.empty());
    CHECK(got[2].payload == "third");
}

TEST_CASE("several frames in one feed, the last one split") {
    std::string stream;
    for (int i = 0; i < 1000; ++i)
        stream += encode_frame(frame_type::request, std::to_string(i));
    std::string last = encode_frame(frame_type::response, "last");
    frame_decoder d;
    d.feed(stream + last.substr(0, 6));
    for (int i = 0; i < 1000; ++i) {
        auto f = d.next();
        REQUIRE(f);
        CHECK(f->payload == std::to_string(i));
    }
    CHECK_FALSE(d.next());
    d.feed(last.substr(6));
    auto f = d.next();
    REQUIRE(f);
    CHECK(f->payload == "last");
    CHECK_FALSE(d.next());
}

TEST_CASE("arbitrary bytes never crash the decoder") {
    std::mt19937 rng(42);
    for (int round = 0; round < 200; ++round) {
        frame_decoder d;
        std::string stream;
        // Mostly valid frames so that decoding gets past the first header, then noise.
        for (int i = 0; i < 5; ++i)
            stream += encode_frame(frame_type::request, std::string(rng() % 40, 'p'));
        for (std::size_t n = rng() % 64; n > 0; --n)
            stream += static_cast<char>(rng() & 0xff);
        try {
            for (std::size_t at = 0; at < stream.size();) {
                std::size_t n = std::min<std::size_t>(1 + rng() % 16, stream.size() - at);
                d.feed(std::string_view(stream).substr(at, n));
                at += n;
                while (auto f = d.next())
                    CHECK(f->payload.size() <= max_frame);
            }
        } catch (const protocol_error&) {
        }
    }
}

// --- the client, against a fake supervisor on a socket in a temporary folder ---

namespace {

struct fake_supervisor {
    ctr::test::listening_socket listener{"ctrctl-test"};
    std::filesystem::path socket = listener.path;
    std::thread thread;
    std::string request; // the payload of the request it received

    // `reply` is written verbatim after one request frame has been read.
    explicit fake_supervisor(std::string reply) {
        thread = std::thread([this, reply = std::move(reply)] {
            ctr::unique_fd conn(::accept4(listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!conn) return;
            frame_decoder d;
            std::array<char, 4096> buf;
            while (true) {
                ssize_t n = ::read(conn.get(), buf.data(), buf.size());
                if (n <= 0) return;
                d.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
                if (auto f = d.next()) {
                    request = f->payload;
                    break;
                }
            }
            (void)!::write(conn.get(), reply.data(), reply.size());
        });
    }
    ~fake_supervisor() {
        listener.shut_down();
        if (thread.joinable()) thread.join();
    }
    std::string received() {
        if (thread.joinable()) thread.join();
        return request;
    }
};

std::string response(const nlohmann::json& j) {
    return encode_frame(frame_type::response, j.dump());
}

} // namespace

TEST_CASE("client: a call returns the response object") {
    fake_supervisor sup(response({{"ok", true}, {"containers", nlohmann::json::array()}}));
    client c(sup.socket);
    auto r = c.call({{"op", "ps"}});
    CHECK(r["ok"] == true);
    CHECK(r["containers"].is_array());
    CHECK(nlohmann::json::parse(sup.received()) == nlohmann::json{{"op", "ps"}});
}

TEST_CASE("client: ok false becomes a ctr::error with the supervisor's message") {
    fake_supervisor sup(response({{"ok", false}, {"error", "no container named 'x'"}}));
    client c(sup.socket);
    CHECK_THROWS_WITH_AS(c.call({{"op", "start"}, {"name", "x"}}), "no container named 'x'",
                         ctr::error);
}

TEST_CASE("client: a broken or missing response is a one-line ctr::error") {
    SUBCASE("closed without answering") {
        fake_supervisor sup("");
        client c(sup.socket);
        CHECK_THROWS_WITH_AS(c.call({{"op", "ps"}}), doctest::Contains("closed the connection"),
                             ctr::error);
    }
    SUBCASE("not JSON") {
        fake_supervisor sup(encode_frame(frame_type::response, "{nope"));
        client c(sup.socket);
        CHECK_THROWS_WITH_AS(c.call({{"op", "ps"}}), doctest::Contains("not a JSON object"),
                             ctr::error);
    }
    SUBCASE("oversized frame") {
        fake_supervisor sup(raw_header(0xFFFFFFFF, 2));
        client c(sup.socket);
        CHECK_THROWS_WITH_AS(c.call({{"op", "ps"}}), doctest::Contains("bad response"), ctr::error);
    }
}

TEST_CASE("client: no supervisor gives the path, the reason and a hint") {
    auto path = std::filesystem::temp_directory_path() / "ctrctl-test-missing" / "ctr.sock";
    CHECK_THROWS_WITH_AS(client{path},
                         ("cannot connect to " + path.string() +
                          ": No such file or directory (is ctr-supervisor running?)")
                             .c_str(),
                         ctr::error);
}

TEST_CASE("client: socket path precedence is flag, then CTR_SOCKET, then the default") {
    const char* saved = std::getenv("CTR_SOCKET");
    std::string saved_value = saved ? saved : "";
    ::unsetenv("CTR_SOCKET");
    CHECK(socket_path(std::nullopt) == "/run/ctr-supervisor/ctr.sock");
    CHECK(socket_path(std::string("/tmp/a.sock")) == "/tmp/a.sock");
    ::setenv("CTR_SOCKET", "/tmp/env.sock", 1);
    CHECK(socket_path(std::nullopt) == "/tmp/env.sock");
    CHECK(socket_path(std::string("/tmp/a.sock")) == "/tmp/a.sock");
    CHECK(socket_path(std::string()) == "/tmp/env.sock");
    ::setenv("CTR_SOCKET", "", 1);
    CHECK(socket_path(std::nullopt) == "/run/ctr-supervisor/ctr.sock");
    if (saved)
        ::setenv("CTR_SOCKET", saved_value.c_str(), 1);
    else
        ::unsetenv("CTR_SOCKET");
}

TEST_CASE("client: only quick requests get a fixed response timeout") {
    using std::chrono::milliseconds;
    CHECK(response_timeout({{"op", "ps"}}) == milliseconds(60'000));
    CHECK(response_timeout({{"op", "kill"}, {"name", "a"}, {"signal", 9}}) == milliseconds(60'000));
    CHECK(response_timeout({{"op", "stop"}, {"name", "a"}, {"timeout_ms", 1500}}) ==
          milliseconds(31'500));
    CHECK_FALSE(response_timeout({{"op", "stop"}, {"name", "a"}}));
    CHECK_FALSE(response_timeout({{"op", "restart"}, {"name", "a"}}));
    CHECK(response_timeout({{"op", "wait"}, {"timeout_ms", 30'000}}) == milliseconds(60'000));
    CHECK_FALSE(response_timeout({{"op", "wait"}, {"timeout_ms", -1}}));
    CHECK_FALSE(response_timeout({{"op", "wait"}, {"timeout_ms", 0xFFFFFFFFFFFFFFFFull}}));
}
