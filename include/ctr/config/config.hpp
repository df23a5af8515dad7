// The supervisor's configuration, typed. Loaded from an INI file by load(); every error names
// `file:line: what is wrong`. Later issues add limit keys.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ctr::config {

enum class restart_policy { no, on_failure, always };
const char* to_string(restart_policy p);

inline constexpr const char* default_socket = "/run/ctr-supervisor/ctr.sock";
inline constexpr const char* default_state_dir = "/run/ctr-supervisor";

// The host ids a user namespace maps its ids 0 .. size-1 onto: ids base .. base+size-1, never the
// host's root (base is at least 1) nor the invalid id 2^32-1.
struct id_range {
    std::uint32_t base = 100000;
    std::uint32_t size = 65536;
    bool operator==(const id_range&) const = default;
};
inline constexpr std::uint32_t max_host_id = 4294967294u; // (uid_t)-1 means "no id"

struct supervisor {
    std::filesystem::path socket = default_socket;
    std::filesystem::path state_dir = default_state_dir;
    std::chrono::milliseconds stop_timeout{10'000};
    std::string socket_group; // a group whose members may use the socket besides root
    // Where NAME.log and its rotations go. Left empty here; parse() makes it state_dir/logs
    // when the file does not say, since state_dir may be given after it or not at all.
    std::filesystem::path log_dir;
    std::uint64_t log_max_size = 10u << 20; // bytes per log file before it rotates
    unsigned log_max_files = 5;             // files kept per container, the current one included
    id_range userns;                        // for every container with `userns = true`
    bool operator==(const supervisor&) const = default;
};

// A [network NAME] section: a bridge carrying the gateway address of one IPv4 subnet. Addresses
// stay text as written (they are checked, and canonical: no leading zeros); net/cidr.hpp parses
// them with the same rules (ctr/core/inet.hpp), so config depends on core alone.
struct network {
    std::string name;
    int line = 0;        // line of the [network ...] header
    std::string bridge;  // interface name, at most 15 characters
    std::string subnet;  // "10.88.0.0/24": prefix 8..30, no host bits set
    std::string gateway; // "10.88.0.1": inside the subnet; default its first host
    unsigned mtu = 1500; // 576..9000
    bool nat = false;    // masquerade the subnet towards the host's other interfaces
    bool operator==(const network&) const = default;
};

// Limits enforced through the container's cgroup; unset means unlimited.
struct resource_limits {
    std::optional<std::uint64_t> memory; // bytes, at least 4 MiB; swap is not granted on top
    std::optional<std::uint64_t> pids;   // at least 1; `pids = max` leaves it unset
    std::optional<double> cpu;           // in CPUs: 0.5 is half of one core, 2 is two cores
    bool operator==(const resource_limits&) const = default;
};

// A `mounts` entry, `host:container[:ro]`: a host file or folder bound into the container.
struct bind_mount {
    std::filesystem::path source; // absolute on the host, normalised
    std::string target;           // absolute in the container, normalised; not /, /proc, /sys
    bool readonly = false;
    bool operator==(const bind_mount&) const = default;
};

// A soft:hard pair for setrlimit.
struct rlimit_pair {
    std::uint64_t soft = 0, hard = 0;
    bool operator==(const rlimit_pair&) const = default;
};

// What a container may do and see (spawn/security.hpp applies it). The defaults are Docker's.
struct isolation_settings {
    // Capabilities: Docker's default 14 changed by these masks (config/capabilities.hpp);
    // cap_add == all_capabilities is ALL: every capability but the dropped ones.
    std::uint64_t cap_add = 0, cap_drop = 0;
    bool seccomp = true; // the default filter; false for `seccomp = unconfined`
    bool readonly_rootfs = false;
    std::optional<rlimit_pair> nofile; // unset: the supervisor's own RLIMIT_NOFILE
    std::vector<bind_mount> mounts;    // in file order
    bool operator==(const isolation_settings&) const = default;
};

// One running instance. A section with `replicas = N` yields N of these named NAME-1 ... NAME-N.
struct container {
    std::string name;
    int line = 0;                     // line of the [container ...] header it came from
    std::filesystem::path rootfs;     // absolute
    std::vector<std::string> command; // argv, already split
    std::vector<std::string> env;     // K=V, in order; a later K replaces an earlier one
    std::string workdir = "/";
    std::string hostname; // defaults to name
    bool tty = false;
    // Without a terminal: keep a pipe open as its stdin for attach to write to (else /dev/null).
    // Not named `stdin`, which <cstdio> may define as a macro.
    bool stdin_open = false;
    // ctr-init as PID 1: it reaps orphans and passes signals on to the command, which then
    // never runs as PID 1 (whose signals without a handler the kernel drops).
    bool init = false;
    restart_policy restart = restart_policy::no;
    std::chrono::milliseconds stop_timeout{10'000}; // [supervisor] stop_timeout unless overridden
    std::string network; // the [network NAME] it joins; "" for loopback only
    std::string ip;      // "" without a network, else "auto" or its static "A.B.C.D"
    resource_limits limits;
    isolation_settings isolation;
    // With `userns = true`: the [supervisor] range its root and other ids map to on the host.
    std::optional<id_range> userns;
    // Every field, `line` included: a reload compares definitions with line set aside.
    bool operator==(const container&) const = default;
};

struct config {
    std::filesystem::path file;
    supervisor sup;
    std::vector<container> containers;
    std::vector<network> networks; // in file order
};

// All the problems found in one file, each `file:line: message`; what() joins them with '\n'.
class config_error : public std::runtime_error {
  public:
    explicit config_error(std::vector<std::string> problems);
    const std::vector<std::string>& problems() const { return problems_; }

  private:
    std::vector<std::string> problems_;
};

// Reads and validates `file`. Relative rootfs paths resolve against the file's folder.
config load(const std::filesystem::path& file);

// Same from text; `file` names the source in messages and anchors relative paths. With
// check_paths false, rootfs existence is not checked (for unit tests and fuzzing).
config parse(std::string_view text, const std::filesystem::path& file, bool check_paths = true);

// Shell-like word splitting without a shell: 'single', "double" (with \" \\ \$ \` escapes),
// backslash escapes outside quotes; no expansion. Throws std::invalid_argument with the reason.
std::vector<std::string> split_command(std::string_view s);

// A container name reaches paths, cgroups and interface names: [A-Za-z0-9][A-Za-z0-9_.-]{0,62},
// and never "." or "..". Returns the reason it is invalid, or nothing.
std::optional<std::string> invalid_name_reason(std::string_view name);

// RFC 1123 host name of at most 64 characters (the kernel's limit). Returns the reason it is
// invalid, or nothing.
std::optional<std::string> invalid_hostname_reason(std::string_view name);

// "10s", "500ms", "2m", "1h", or a bare number of seconds ("1.5"); at most 8760h. Throws
// std::invalid_argument with the reason.
std::chrono::milliseconds parse_duration(std::string_view s);

} // namespace ctr::config
