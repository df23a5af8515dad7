// Linux capabilities by name, for the cap_add and cap_drop keys. A set is a mask with bit N for
// capability N (CAP_CHOWN is bit 0), as capset(2) and /proc/PID/status show them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ctr::config {

// CAP_CHOWN (0) .. CAP_CHECKPOINT_RESTORE (40), the last one Linux 6.x knows.
inline constexpr int capability_count = 41;
inline constexpr std::uint64_t all_capabilities = (std::uint64_t{1} << capability_count) - 1;

// "CAP_CHOWN" for 0; nullptr for a number outside the table.
const char* capability_name(int cap);

// The number of "CAP_NET_RAW", "net_raw" or "Net_Raw": case-insensitive, CAP_ prefix optional.
std::optional<int> capability_number(std::string_view name);

// A list of names separated by commas and/or blanks ("NET_ADMIN, sys_time CAP_KILL"), or "ALL"
// among them, as a mask (ALL is all_capabilities). Throws std::invalid_argument naming the first
// unknown name, or for an empty list.
std::uint64_t parse_capabilities(std::string_view list);

} // namespace ctr::config
