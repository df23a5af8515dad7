// Parsers for the isolation keys of a [container] section: cap_add, cap_drop, seccomp,
// readonly_rootfs (parse_bool), nofile and mounts. Each throws std::invalid_argument with the
// reason; the caller adds file, line, section and key.
#pragma once

#include "values.hpp"
#include <cstdint>
#include <string_view>

#include "ctr/config/config.hpp"

namespace ctr::config {

// "NET_ADMIN, sys_time" or "ALL": a mask of capability bits (config/capabilities.hpp).
std::uint64_t parse_capability_list(std::string_view v);
// "default" (true) or "unconfined" (false).
bool parse_seccomp(std::string_view v);
// "1024" (soft and hard) or "1024:4096" (soft:hard), soft <= hard <= 2^30.
rlimit_pair parse_nofile(std::string_view v);
// "host:container[:ro|:rw]": host absolute (and existing, with ctx.check_paths), container
// absolute without "..", neither / nor inside /proc or /sys (the masks there must stay on top).
bind_mount parse_mount(std::string_view v, const value_context& ctx);

} // namespace ctr::config
