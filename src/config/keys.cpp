#include "keys.hpp"

#include "isolation.hpp"
#include "text.hpp"
#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace ctr::config {
namespace {

using apply_fn = void (*)(const section_target&, std::string_view value, const value_context&);

// How often a key may appear in its section.
enum class occurs { optional, required, repeatable };

struct key_rule {
    std::string_view section;
    std::string_view key;
    occurs times;
    apply_fn apply;
};

template <typename T> struct member_of;
template <typename C, typename M> struct member_of<M C::*> { using owner = C; };

template <auto Parse> auto parse_value(std::string_view v, const value_context& ctx) {
    if constexpr (std::is_invocable_v<decltype(Parse), std::string_view, const value_context&>)
        return Parse(v, ctx);
    else
        return Parse(v);
}

// The section kind in the row picks the variant alternative; a row naming the wrong struct throws
// std::bad_variant_access on first use, which every key's unit test would catch.
template <auto Field> auto& field(const section_target& t) {
    return std::get<typename member_of<decltype(Field)>::owner*>(t)->*Field;
}

template <auto Field, auto Parse>
void set(const section_target& t, std::string_view v, const value_context& ctx) {
    field<Field>(t) = parse_value<Parse>(v, ctx);
}

// A later NAME=... replaces the earlier one in its place, so the environment handed to execve
// never holds a name twice (getenv would see the first).
template <auto Field, auto Parse>
void merge_env(const section_target& t, std::string_view v, const value_context& ctx) {
    std::string entry = parse_value<Parse>(v, ctx);
    auto& env = field<Field>(t);
    auto name = std::string_view(entry).substr(0, entry.find('=') + 1);
    auto same = std::find_if(env.begin(), env.end(),
                             [&](const std::string& e) { return e.starts_with(name); });
    if (same != env.end())
        *same = std::move(entry);
    else
        env.push_back(std::move(entry));
}

// A key filling one member of a struct the section holds: `memory` is draft.limits.memory.
template <auto Field, auto Member, auto Parse>
void set_in(const section_target& t, std::string_view v, const value_context& ctx) {
    field<Field>(t).*Member = parse_value<Parse>(v, ctx);
}

// A repeatable key adding to a list in such a struct: each `mounts` line is one more bind.
template <auto Field, auto Member, auto Parse>
void append_in(const section_target& t, std::string_view v, const value_context& ctx) {
    (field<Field>(t).*Member).push_back(parse_value<Parse>(v, ctx));
}

using draft = container_draft;
using sup = supervisor;
using net = network;

// clang-format off
constexpr key_rule rules[] = {
    {"supervisor", "socket",       occurs::optional,   set<&sup::socket, parse_path>},
    {"supervisor", "state_dir",    occurs::optional,   set<&sup::state_dir, parse_path>},
    {"supervisor", "stop_timeout", occurs::optional,   set<&sup::stop_timeout, parse_duration>},
    {"supervisor", "socket_group", occurs::optional,   set<&sup::socket_group, parse_group>},
    {"supervisor", "log_dir",      occurs::optional,   set<&sup::log_dir, parse_path>},
    {"supervisor", "log_max_size", occurs::optional,   set<&sup::log_max_size, parse_log_max_size>},
    {"supervisor", "log_max_files", occurs::optional,  set<&sup::log_max_files, parse_log_max_files>},
    {"supervisor", "userns_base",  occurs::optional,   set_in<&sup::userns, &id_range::base, parse_userns_base>},
    {"supervisor", "userns_size",  occurs::optional,   set_in<&sup::userns, &id_range::size, parse_userns_size>},

    {"container",  "rootfs",       occurs::required,   set<&draft::rootfs, parse_rootfs>},
    {"container",  "command",      occurs::required,   set<&draft::command, parse_command>},
    {"container",  "env",          occurs::repeatable, merge_env<&draft::env, parse_env_entry>},
    {"container",  "workdir",      occurs::optional,   set<&draft::workdir, parse_workdir>},
    {"container",  "hostname",     occurs::optional,   set<&draft::hostname, parse_hostname>},
    {"container",  "tty",          occurs::optional,   set<&draft::tty, parse_bool>},
    {"container",  "stdin",        occurs::optional,   set<&draft::stdin_open, parse_bool>},
    {"container",  "init",         occurs::optional,   set<&draft::init, parse_bool>},
    {"container",  "restart",      occurs::optional,   set<&draft::restart, parse_restart>},
    {"container",  "replicas",     occurs::optional,   set<&draft::replicas, parse_replicas>},
    {"container",  "stop_timeout", occurs::optional,   set<&draft::stop_timeout, parse_duration>},
    {"container",  "network",      occurs::optional,   set<&draft::network, parse_network_name>},
    {"container",  "ip",           occurs::optional,   set<&draft::ip, parse_ip>},
    {"container",  "memory",       occurs::optional,   set_in<&draft::limits, &resource_limits::memory, parse_memory>},
    {"container",  "pids",         occurs::optional,   set_in<&draft::limits, &resource_limits::pids, parse_pids>},
    {"container",  "cpu",          occurs::optional,   set_in<&draft::limits, &resource_limits::cpu, parse_cpu>},
    {"container",  "cap_add",      occurs::optional,   set_in<&draft::isolation, &isolation_settings::cap_add, parse_capability_list>},
    {"container",  "cap_drop",     occurs::optional,   set_in<&draft::isolation, &isolation_settings::cap_drop, parse_capability_list>},
    {"container",  "seccomp",      occurs::optional,   set_in<&draft::isolation, &isolation_settings::seccomp, parse_seccomp>},
    {"container",  "readonly_rootfs", occurs::optional, set_in<&draft::isolation, &isolation_settings::readonly_rootfs, parse_bool>},
    {"container",  "nofile",       occurs::optional,   set_in<&draft::isolation, &isolation_settings::nofile, parse_nofile>},
    {"container",  "mounts",       occurs::repeatable, append_in<&draft::isolation, &isolation_settings::mounts, parse_mount>},
    {"container",  "userns",       occurs::optional,   set<&draft::userns, parse_bool>},

    {"network",    "bridge",       occurs::required,   set<&net::bridge, parse_ifname>},
    {"network",    "subnet",       occurs::required,   set<&net::subnet, parse_subnet>},
    {"network",    "gateway",      occurs::optional,   set<&net::gateway, parse_address>},
    {"network",    "mtu",          occurs::optional,   set<&net::mtu, parse_mtu>},
    {"network",    "nat",          occurs::optional,   set<&net::nat, parse_bool>},
};
// clang-format on

const key_rule* find_rule(std::string_view section, std::string_view key) {
    for (const auto& r : rules)
        if (r.section == section && r.key == key) return &r;
    return nullptr;
}

} // namespace

key_lines apply_keys(const ini::section& section, std::string_view label, section_target target,
                     const value_context& ctx, std::vector<ini::problem>& problems) {
    key_lines seen;
    for (const auto& e : section.entries) {
        const key_rule* rule = find_rule(section.kind, e.key);
        if (!rule) {
            problems.push_back(
                {e.line, fmt::format("unknown key '{}' in {}", printable(e.key), label)});
            continue;
        }
        auto [first, inserted] = seen.try_emplace(e.key, e.line);
        if (!inserted && rule->times != occurs::repeatable) {
            problems.push_back({e.line, fmt::format("duplicate key '{}' in {} (first at line {})",
                                                    e.key, label, first->second)});
            continue;
        }
        try {
            // Every value ends up in a C string (a path, argv, envp), where a NUL would cut it.
            if (e.value.find('\0') != std::string::npos)
                throw std::invalid_argument("contains a NUL byte");
            rule->apply(target, e.value, ctx);
        } catch (const std::invalid_argument& why) {
            problems.push_back({e.line, fmt::format("bad {} '{}' in {}: {}", e.key,
                                                    printable(e.value), label, why.what())});
        }
    }
    for (const auto& r : rules)
        if (r.section == section.kind && r.times == occurs::required && !seen.contains(r.key))
            problems.push_back({section.line, fmt::format("missing key '{}' in {}", r.key, label)});
    return seen;
}

} // namespace ctr::config
