// Parsers for the values of config keys. Each returns the typed value or throws
// std::invalid_argument with the reason; the caller adds file, line, section and key.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ctr/config/config.hpp"

namespace ctr::config {

struct value_context {
    std::filesystem::path base_dir; // absolute folder of the config file
    bool check_paths = true;
};

bool parse_bool(std::string_view v);
restart_policy parse_restart(std::string_view v);
int parse_replicas(std::string_view v);
std::vector<std::string> parse_command(std::string_view v);
std::string parse_env_entry(std::string_view v);
std::string parse_workdir(std::string_view v);
std::string parse_hostname(std::string_view v);
std::string parse_group(std::string_view v); // an existing group's name
// Names of a [network NAME] section follow container names' rules (invalid_name_reason).
std::string parse_network_name(std::string_view v);
// Link names as the kernel takes them: at most 15 characters, no '/', ':' or spaces.
std::string parse_ifname(std::string_view v);
// IPv4 text is kept as written once ctr/core/inet.hpp accepts it.
std::string parse_subnet(std::string_view v);  // "10.88.0.0/24"
std::string parse_address(std::string_view v); // "10.88.0.1"
std::string parse_ip(std::string_view v);      // "auto" or an address
unsigned parse_mtu(std::string_view v);        // 576 (IPv4's minimum) .. 9000 (jumbo frames)
// Bytes with an optional K, M, G or T suffix (powers of 1024); `example` goes in the message.
std::uint64_t parse_size(std::string_view v, std::string_view example);
// Cgroup limits. A size of at least 4M.
std::uint64_t parse_memory(std::string_view v);
// A whole number of processes from 1, or "max" (no limit: nothing).
std::optional<std::uint64_t> parse_pids(std::string_view v);
// CPUs as a decimal like 0.5 or 2, from 0.01 (1 ms of every 100 ms period).
double parse_cpu(std::string_view v);
// Container logs: a size of at least 1K per file; 1 to 1000 files, the current one included.
std::uint64_t parse_log_max_size(std::string_view v);
unsigned parse_log_max_files(std::string_view v);
// User namespace ranges: host ids from 1 (never the host's root) and a count from 1, both at most
// max_host_id; that base + size stays below it is checked once both are known.
std::uint32_t parse_userns_base(std::string_view v);
std::uint32_t parse_userns_size(std::string_view v);
// Relative paths resolve against ctx.base_dir.
std::filesystem::path parse_path(std::string_view v, const value_context& ctx);
// A path that, with ctx.check_paths, must be a real directory, not a symlink to one.
std::filesystem::path parse_rootfs(std::string_view v, const value_context& ctx);

} // namespace ctr::config
