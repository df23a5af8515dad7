// The control socket's stream connections: attach, logs and exec (protocol in stream.hpp). Each
// connection has a writer (pump) that alone writes to its socket, fed by a bounded queue, and a
// reader for the client's frames; a client that stops reading is dropped, never waited for.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/local/stream_protocol.hpp>
#include <nlohmann/json.hpp>

#include "ctr/supervise/supervisor.hpp"

namespace ctr::control {

bool is_stream_op(const nlohmann::json& request);

// Serves one attach, logs or exec request on its connection until it ends. Never throws: a
// refusal is a {"ok": false} response, a bad frame an error frame.
asio::awaitable<void> serve_stream(asio::local::stream_protocol::socket sock,
                                   supervise::supervisor& sup, nlohmann::json request);

} // namespace ctr::control
