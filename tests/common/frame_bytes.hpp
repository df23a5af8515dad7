// Frame headers as bytes on the wire, written out by hand rather than by the codec under test,
// so that a test can hand the decoder lengths and types the encoder would never make.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "ctr/control/protocol.hpp"

namespace ctr::test {

// A header: 4 bytes of length (big-endian), then 1 byte of type.
inline std::string raw_header(std::uint32_t length, std::uint8_t type) {
    return {static_cast<char>(length >> 24 & 0xff), static_cast<char>(length >> 16 & 0xff),
            static_cast<char>(length >> 8 & 0xff), static_cast<char>(length & 0xff),
            static_cast<char>(type)};
}

// decode_header on the first header_size bytes of `bytes`.
inline control::header decode(const std::string& bytes) {
    std::array<std::uint8_t, control::header_size> raw;
    for (std::size_t i = 0; i < control::header_size; ++i)
        raw[i] = static_cast<std::uint8_t>(bytes[i]);
    return control::decode_header(raw);
}

} // namespace ctr::test
