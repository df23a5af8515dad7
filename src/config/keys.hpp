// The one table of config keys, systemd-nspawn style: (section kind, key, parser, field). A new
// key is one row in keys.cpp; a new section kind is a draft type added to section_target.
#pragma once

#include "values.hpp"
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ctr/config/config.hpp"
#include "ctr/config/ini.hpp"

namespace ctr::config {

// A [container NAME] section as written. Its defaults that depend on other sections
// (stop_timeout) or on the replica's name (hostname) stay empty until the file is read.
struct container_draft {
    std::filesystem::path rootfs;
    std::vector<std::string> command;
    std::vector<std::string> env;
    std::string workdir = "/";
    std::optional<std::string> hostname;
    bool tty = false;
    bool stdin_open = false;
    bool init = false;
    restart_policy restart = restart_policy::no;
    std::optional<int> replicas;
    std::optional<std::chrono::milliseconds> stop_timeout;
    std::optional<std::string> network;
    std::optional<std::string> ip; // "auto" or an address, checked against its network later
    resource_limits limits;
    isolation_settings isolation;
    bool userns = false;
};

// A [network NAME] section fills config::network directly: its one default that depends on
// another key (the gateway, from the subnet) is filled by network_checker.
using section_target = std::variant<supervisor*, container_draft*, network*>;

// Where each key of a section was first given, by key.
using key_lines = std::map<std::string, int, std::less<>>;

// Reads a section's entries into `target` through the table. Unknown keys, repeats of a key that
// may appear once, bad values and missing required keys become problems; the rest is applied.
// `label` is how messages name the section, e.g. "[container web]".
key_lines apply_keys(const ini::section& section, std::string_view label, section_target target,
                     const value_context& ctx, std::vector<ini::problem>& problems);

} // namespace ctr::config
