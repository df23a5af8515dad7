#include "ctr/control/protocol.hpp"

#include <array>
#include <cstring>

#include <fmt/format.h>

namespace ctr::control {

namespace {

bool known_type(std::uint8_t type) {
    return type >= static_cast<std::uint8_t>(frame_type::request) && type <= last_frame_type;
}

} // namespace

header decode_header(std::span<const std::uint8_t, header_size> bytes) {
    std::uint32_t length = std::uint32_t{bytes[0]} << 24 | std::uint32_t{bytes[1]} << 16 |
                           std::uint32_t{bytes[2]} << 8 | std::uint32_t{bytes[3]};
    if (!known_type(bytes[4])) throw protocol_error(fmt::format("unknown frame type {}", bytes[4]));
    if (length > max_frame)
        throw protocol_error(
            fmt::format("frame of {} bytes exceeds the limit of {} bytes", length, max_frame));
    return {static_cast<frame_type>(bytes[4]), length};
}

std::array<char, header_size> encode_header(frame_type type, std::size_t length) {
    // Refuse here what the peer's decode_header would refuse, so the error names our side.
    if (!known_type(static_cast<std::uint8_t>(type)))
        throw protocol_error(fmt::format("unknown frame type {}", static_cast<std::uint8_t>(type)));
    if (length > max_frame)
        throw protocol_error(
            fmt::format("frame of {} bytes exceeds the limit of {} bytes", length, max_frame));
    auto n = static_cast<std::uint32_t>(length);
    return {static_cast<char>(n >> 24 & 0xff), static_cast<char>(n >> 16 & 0xff),
            static_cast<char>(n >> 8 & 0xff), static_cast<char>(n & 0xff), static_cast<char>(type)};
}

std::string encode_frame(frame_type type, std::string_view payload) {
    auto head = encode_header(type, payload.size());
    std::string out;
    out.reserve(header_size + payload.size());
    out.append(head.data(), head.size());
    out.append(payload);
    return out;
}

void frame_decoder::feed(std::string_view bytes) {
    // Dropping returned frames here rather than in next() keeps draining a feed of many small
    // frames linear instead of quadratic.
    buf_.erase(0, pos_);
    pos_ = 0;
    buf_.append(bytes);
}

std::optional<frame> frame_decoder::next() {
    std::string_view rest = std::string_view(buf_).substr(pos_);
    if (rest.size() < header_size) return std::nullopt;
    std::array<std::uint8_t, header_size> raw;
    std::memcpy(raw.data(), rest.data(), header_size);
    header h = decode_header(raw);
    if (rest.size() - header_size < h.length) return std::nullopt;
    frame f{h.type, std::string(rest.substr(header_size, h.length))};
    pos_ += header_size + h.length;
    return f;
}

} // namespace ctr::control
