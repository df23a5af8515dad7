// Reading and writing whole frames on a control connection, shared by request and stream
// sessions. Private to src/control.
#pragma once

#include <optional>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/local/stream_protocol.hpp>

#include "ctr/control/protocol.hpp"

namespace ctr::control {

// One frame, or why none came. Never throws: under `||` a throwing branch would only be noticed
// once the other one ended.
struct read_result {
    std::optional<frame> got;
    std::string error; // empty with no frame: the client hung up between frames
};
asio::awaitable<read_result> read_frame(asio::local::stream_protocol::socket& sock);

// Whole frame or nothing useful: false when the peer is gone.
asio::awaitable<bool> write_frame(asio::local::stream_protocol::socket& sock, frame_type type,
                                  std::string_view payload);

} // namespace ctr::control
