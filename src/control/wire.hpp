// The client's half of the control socket's plumbing, shared by control::client (one request,
// one response) and the stream client (one request, one response, then frames both ways).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ctr/control/protocol.hpp"
#include "ctr/core/unique_fd.hpp"

namespace ctr::control::wire {

// Long enough that only a wedged supervisor hits it, short enough that scripts do not hang.
inline constexpr std::chrono::milliseconds quick_timeout{60'000};

// A blocking, close-on-exec stream socket connected to `socket`; failures name the path and
// hint at the usual causes.
unique_fd connect_to(const std::filesystem::path& socket);

// SO_RCVTIMEO / SO_SNDTIMEO; nothing means no limit.
void set_timeout(int fd, int option, std::optional<std::chrono::milliseconds> timeout);

// Writes all of `bytes` to a blocking socket; a peer that went away is an error, not SIGPIPE.
void send_all(int fd, std::string_view bytes, const std::filesystem::path& socket);

// The request frame for `request` (invalid UTF-8 replaced rather than refused).
std::string request_frame(const nlohmann::json& request);

// Reads from a blocking socket until `decoder` yields a frame.
frame receive(int fd, frame_decoder& decoder, std::optional<std::chrono::milliseconds> timeout,
              const std::filesystem::path& socket);

// The response object when `f` is a response saying "ok": true; ctr::error otherwise, with the
// supervisor's own message for a refused request.
nlohmann::json check_response(const frame& f, const std::filesystem::path& socket);

std::string errno_text(int err);

} // namespace ctr::control::wire
