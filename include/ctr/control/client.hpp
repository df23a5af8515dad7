// The blocking side of the control socket, for ctrctl and tests: one request frame out, one
// response frame back. Every failure, a refused request included, is a ctr::error whose
// message is one line fit for `ctrctl: <message>`.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ctr/control/protocol.hpp"
#include "ctr/core/unique_fd.hpp"

namespace ctr::control {

// --socket if given, else $CTR_SOCKET, else config::default_socket; empty counts as unset.
std::filesystem::path socket_path(std::optional<std::string> cli_value);

// How long call() waits for the response to `request`, or nothing for no limit. Quick ops get
// a generous fixed limit; stop and wait get their own timeout plus a margin, and with no
// timeout of their own (stop with the container's configured one, restart) no limit at all.
std::optional<std::chrono::milliseconds> response_timeout(const nlohmann::json& request);

class client {
  public:
    explicit client(const std::filesystem::path& socket);

    // The response object when it says "ok": true; throws ctr::error with its "error" otherwise.
    nlohmann::json call(const nlohmann::json& request);

  private:
    void send_all(std::string_view bytes);
    frame receive(std::optional<std::chrono::milliseconds> timeout);

    std::filesystem::path path_;
    unique_fd fd_;
    frame_decoder decoder_;
};

} // namespace ctr::control
