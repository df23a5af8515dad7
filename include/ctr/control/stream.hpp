// Stream connections: attach, logs and exec (framing in protocol.hpp).
//
//   client                                   supervisor
//   ------                                   ----------
//   request {"op": "attach", ...}  ───────▶
//                                  ◀───────  response {"ok": true, "tty": B}   (or ok: false, end)
//                                  ◀───────  stdout_data (the scrollback, unless "replay": false)
//   stdin_data, resize, signal,    ───────▶  stdout_data / stderr_data as the process writes
//   close_stdin                    ◀───────  exit {...} when the process ends, then EOF
//   detach                         ───────▶  EOF (the process keeps running)
//                                  ◀───────  error "..." and EOF: a bad frame, or the client
//                                            fell more than client_queue_limit bytes behind
//
// logs: the response, then stdout_data frames with the log's bytes (its last `tail` lines
// when given), then EOF; with "follow": true, live output after that, across restarts, until
// the client hangs up. It takes no input.
// exec: like attach for a new process in the running container, with the client its only
// reader; the exit frame carries its status. Hanging up kills it.
//
// Input frames sent where they make no sense (stdin_data without stdin, resize without a
// terminal) are ignored, not errors: a client cannot know what the container was given.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ctr/control/protocol.hpp"
#include "ctr/tty/terminal.hpp"

namespace ctr::control {

// What one client may have queued and unsent before it is dropped.
inline constexpr std::size_t client_queue_limit = 1u << 20;

using tty::window_size;

std::string encode_resize(window_size ws);
// Throws protocol_error unless the payload is exactly four bytes.
window_size decode_resize(std::string_view payload);

std::string encode_signal(int sig);
// Throws protocol_error unless one byte naming a signal between 1 and 64.
int decode_signal(std::string_view payload);

// Whether a frame of this type may travel from client to supervisor once streaming.
bool client_may_send(frame_type t);

} // namespace ctr::control
