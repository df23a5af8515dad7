// One function per stream op; private to src/control. Each throws ctr::error (a refusal) only
// before it took the socket over.
#pragma once

#include <memory>

#include <asio/awaitable.hpp>
#include <asio/local/stream_protocol.hpp>
#include <nlohmann/json.hpp>

#include "ctr/supervise/container.hpp"

namespace ctr::control {

// Takes the container's owner: its input reader outlives the session's own frame.
asio::awaitable<void> serve_attach(asio::local::stream_protocol::socket& sock,
                                   std::shared_ptr<supervise::container> c,
                                   const nlohmann::json& req);
asio::awaitable<void> serve_logs(asio::local::stream_protocol::socket& sock,
                                 supervise::container& c, const nlohmann::json& req);
asio::awaitable<void> serve_exec(asio::local::stream_protocol::socket& sock,
                                 supervise::container& c, const nlohmann::json& req);

// Optional typed fields of a request; throw ctr::error naming the field when mistyped.
bool flag(const nlohmann::json& req, const char* key, bool fallback);
std::optional<tty::window_size> size_of(const nlohmann::json& req);

} // namespace ctr::control
