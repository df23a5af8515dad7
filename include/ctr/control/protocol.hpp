// The control socket's wire format, shared by the supervisor and ctrctl.
//
// A connection carries frames in both directions:
//
//     +---------------------+-----------+----------------------+
//     | length: u32 (BE)    | type: u8  | payload: length bytes|
//     +---------------------+-----------+----------------------+
//
// `length` counts the payload only and is checked against max_frame before anything is
// allocated. A connection starts in request mode: request frames (client -> supervisor, a JSON
// object) each answered by one response frame (supervisor -> client, a JSON object). A
// successful attach, logs or exec request turns it into a stream connection for good; the
// stream frames and their order are described in stream.hpp. An unknown type, a frame of the
// wrong direction or a malformed payload ends the connection with an error frame.
//
// Requests:   {"op": "ps"}
//             {"op": "start"|"restart", "name": N}
//             {"op": "stop", "name": N, "timeout_ms": T?}
//             {"op": "kill", "name": N, "signal": S}                 S a number
//             {"op": "wait", "names": [N...], "state": "running", "timeout_ms": T}
//             {"op": "net"}
//             {"op": "stats", "name": N?}                   N: that one (running), else all running
//             {"op": "reload"}                      re-reads the config file (supervisor.hpp)
//             {"op": "attach", "name": N, "replay": B, "rows": R?, "cols": C?}      (stream.hpp)
//             {"op": "logs", "name": N, "follow": B, "tail": L?}                  (stream.hpp)
//             {"op": "exec", "name": N, "argv": [...], "env": ["K=V"...], "workdir": W?,
//              "tty": B, "stdin": B, "rows": R?, "cols": C?}                      (stream.hpp)
// Responses:  {"ok": true, ...}   ps adds "containers": [status...], net adds "networks":
//             [{"name", "bridge", "subnet", "gateway", "mtu", "nat",
//               "containers": [{"name", "ip", "interface", "attached", "error"}]}],
//             stats adds "containers": [{"name", "memory", "memory_peak" (bytes), "pids",
//               "cpu_seconds"}], each null where the host does not count it; reload adds
//             "summary" (one line) and the name lists "added", "removed", "recreated",
//             "updated", "unchanged", "networks_added", "networks_removed", "networks_rebuilt",
//             "failed" ("NAME: why"), "needs_restart" ([supervisor] keys)
//             {"ok": false, "error": "no container named 'x'"}
// status:     {"name", "state", "pid" (null when none), "ip" (null when none), "restarts",
//              "started_at" (unix ms or null),
//              "exit_code" (null), "signal" (null or "SIGKILL"), "reason" (null or
//              "oom-killed"), "error" (null or text), "restart_policy"}
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ctr::control {

inline constexpr std::size_t header_size = 5;
inline constexpr std::uint32_t max_frame = 1u << 20;

enum class frame_type : std::uint8_t {
    request = 1,  // client -> supervisor: JSON
    response = 2, // supervisor -> client: JSON
    // Stream frames (stream.hpp); the arrows give the only direction each may travel.
    stdin_data = 3,  // client -> supervisor: bytes for the process's input
    stdout_data = 4, // supervisor -> client: bytes the process wrote (its terminal, or stdout)
    stderr_data = 5, // supervisor -> client: bytes it wrote to stderr (no terminal)
    resize = 6,      // client -> supervisor: rows u16 BE, cols u16 BE
    signal = 7,      // client -> supervisor: signal number u8
    close_stdin = 8, // client -> supervisor: empty; the client's input ended
    detach = 9,      // client -> supervisor: empty; leave, the process keeps running
    exit = 10,       // supervisor -> client: JSON {"exit_code", "signal", "reason", "error"}
    error = 11,      // supervisor -> client: text; the connection ends after it
};
inline constexpr std::uint8_t last_frame_type = 11;

class protocol_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct frame {
    frame_type type;
    std::string payload;
};

struct header {
    frame_type type;
    std::uint32_t length;
};

// Validates a header: known type, length within max_frame; throws protocol_error otherwise.
header decode_header(std::span<const std::uint8_t, header_size> bytes);
std::string encode_frame(frame_type type, std::string_view payload);
// The five header bytes alone, for a writer that sends the payload from where it lies; throws
// protocol_error like encode_frame.
std::array<char, header_size> encode_header(frame_type type, std::size_t length);

// Incremental decoder for a byte stream (used by ctrctl, tests and the fuzz target).
// It holds at most what was fed and not yet returned; a header is judged as soon as its five
// bytes are in, so an oversized length fails before its payload is awaited or allocated.
// After next() throws, the stream is out of sync and the connection should end.
class frame_decoder {
  public:
    void feed(std::string_view bytes);
    // The next complete frame, or nothing until more bytes arrive. Throws protocol_error.
    std::optional<frame> next();

  private:
    std::string buf_;
    std::size_t pos_ = 0; // start of the bytes not yet returned as frames
};

} // namespace ctr::control
