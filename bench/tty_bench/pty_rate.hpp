// The kernel's own pty speed, the yardstick of the relay: the same writer the container runs
// (the image's busybox `head -c N /dev/zero`) on a pty's slave, this process reading the master
// as fast as it can, nothing else in between.
#pragma once

#include <cstdint>
#include <filesystem>

namespace ctr::bench {

struct pty_rate {
    std::uint64_t bytes = 0; // read from the master (zeros pass the line discipline unchanged)
    double seconds = 0;      // from the fork of the writer to the master's EOF
    double mb_per_s() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0; }
};

// Throws ctr::error when the pty cannot be made or the writer does not deliver `bytes`.
pty_rate measure_pty(const std::filesystem::path& busybox, std::uint64_t bytes);

} // namespace ctr::bench
