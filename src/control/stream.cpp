#include "ctr/control/stream.hpp"

#include <fmt/format.h>

namespace ctr::control {

std::string encode_resize(window_size ws) {
    return {static_cast<char>(ws.rows >> 8), static_cast<char>(ws.rows & 0xff),
            static_cast<char>(ws.cols >> 8), static_cast<char>(ws.cols & 0xff)};
}

window_size decode_resize(std::string_view p) {
    if (p.size() != 4) throw protocol_error(fmt::format("resize frame of {} bytes", p.size()));
    auto byte = [&](std::size_t i) {
        return static_cast<std::uint16_t>(static_cast<unsigned char>(p[i]));
    };
    return {static_cast<std::uint16_t>(byte(0) << 8 | byte(1)),
            static_cast<std::uint16_t>(byte(2) << 8 | byte(3))};
}

std::string encode_signal(int sig) {
    return std::string(1, static_cast<char>(sig));
}

int decode_signal(std::string_view p) {
    if (p.size() != 1) throw protocol_error(fmt::format("signal frame of {} bytes", p.size()));
    int sig = static_cast<unsigned char>(p[0]);
    if (sig < 1 || sig > 64) throw protocol_error(fmt::format("signal {} out of range", sig));
    return sig;
}

bool client_may_send(frame_type t) {
    switch (t) {
    case frame_type::stdin_data:
    case frame_type::resize:
    case frame_type::signal:
    case frame_type::close_stdin:
    case frame_type::detach:
        return true;
    default:
        return false;
    }
}

} // namespace ctr::control
