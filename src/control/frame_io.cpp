#include "frame_io.hpp"

#include <array>

#include <asio/read.hpp>
#include <asio/write.hpp>

#include "ctr/core/awaitable.hpp"

namespace ctr::control {

asio::awaitable<read_result> read_frame(asio::local::stream_protocol::socket& sock) {
    std::array<std::uint8_t, header_size> head{};
    auto [ec, n] = co_await asio::async_read(sock, asio::buffer(head), ctr::as_tuple_awaitable);
    if (ec) co_return read_result{std::nullopt, n == 0 ? "" : "truncated frame header"};
    try {
        header h = decode_header(std::span<const std::uint8_t, header_size>(head));
        // decode_header bounded the length: this allocation is at most max_frame.
        frame f{h.type, std::string(h.length, '\0')};
        auto [ec2, n2] =
            co_await asio::async_read(sock, asio::buffer(f.payload), ctr::as_tuple_awaitable);
        if (ec2) co_return read_result{std::nullopt, "truncated frame"};
        co_return read_result{std::move(f), {}};
    } catch (const protocol_error& e) {
        co_return read_result{std::nullopt, e.what()};
    }
}

asio::awaitable<bool> write_frame(asio::local::stream_protocol::socket& sock, frame_type type,
                                  std::string_view payload) {
    auto bytes = encode_frame(type, payload);
    auto [ec, n] = co_await asio::async_write(sock, asio::buffer(bytes), ctr::as_tuple_awaitable);
    co_return !ec;
}

} // namespace ctr::control
