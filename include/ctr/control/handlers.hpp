// What each control request does, on the supervisor. Long requests (stop, restart, wait) await
// state changes on the event loop; none blocks it.
#pragma once

#include <asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "ctr/supervise/supervisor.hpp"

namespace ctr::control {

// Answers one request; failures come back as {"ok": false, "error": ...}, never as exceptions.
asio::awaitable<nlohmann::json> handle(supervise::supervisor& sup, const nlohmann::json& request);

nlohmann::json to_json(const supervise::status& st, const config::container& cfg,
                       const std::optional<std::string>& ip);

} // namespace ctr::control
