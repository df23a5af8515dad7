// The client side of a stream connection (include/ctr/control/stream.hpp) as the benchmark
// needs it: a blocking Unix socket, whole frames out, and frames in counted rather than kept, so
// that the reader costs as little CPU as it can while it competes with the relay it measures.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctr/control/protocol.hpp"
#include "ctr/core/unique_fd.hpp"

namespace ctr::bench {

// Frames parsed in place: stdout_data and stderr_data payloads are only counted; every other
// payload (response, exit, error) is kept whole.
class frame_counter {
  public:
    // Throws control::protocol_error on a header decode_header refuses.
    void feed(const char* bytes, std::size_t n);

    std::uint64_t data_bytes = 0; // stdout_data + stderr_data payloads
    std::uint64_t frames = 0;
    std::optional<std::string> response, exit, error;

  private:
    std::array<std::uint8_t, control::header_size> header_{};
    std::size_t header_have_ = 0;
    std::size_t remaining_ = 0; // payload bytes of the current frame still to come
    control::frame_type type_{};
    std::string kept_;
    void frame_done();
};

class stream_connection {
  public:
    explicit stream_connection(const std::filesystem::path& socket);

    void send(control::frame_type type, std::string_view payload);
    // Sends `request` and returns the response's JSON text, feeding whatever came after it to
    // `counter`.
    std::string request(std::string_view request, frame_counter& counter);
    // One recv into the buffer, fed to `counter`: false at EOF.
    bool receive(frame_counter& counter);

  private:
    unique_fd fd_;
    std::vector<char> buf_ = std::vector<char>(256 * 1024);
};

} // namespace ctr::bench
