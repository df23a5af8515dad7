// The file systems every container gets, in mount order, relative to its new root. A later
// entry may sit inside an earlier one (dev/pts inside dev).
#pragma once

#include <sys/mount.h>
#include <sys/types.h>

namespace ctr::spawn {

struct mount_option {
    const char* key = nullptr;
    const char* value = nullptr; // nullptr: a flag
};

struct mount_spec {
    const char* fstype;
    const char* parent; // resolved inside the root; "." is the root itself
    const char* leaf;   // one path component, created when missing
    mode_t dir_mode;
    unsigned attr; // MOUNT_ATTR_*
    bool is_dev;   // gets the device nodes and links below
    mount_option options[4];
};

inline constexpr unsigned nosuid_nodev_noexec =
    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;

inline constexpr mount_spec mount_table[] = {
    {"proc", ".", "proc", 0555, nosuid_nodev_noexec, false, {}},
    {"sysfs", ".", "sys", 0555, MOUNT_ATTR_RDONLY | nosuid_nodev_noexec, false, {}},
    {"tmpfs",
     ".",
     "dev",
     0755,
     MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_STRICTATIME,
     true,
     {{"mode", "755"}, {"size", "65536k"}}},
    {"devpts",
     "dev",
     "pts",
     0755,
     MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
     false,
     {{"newinstance", nullptr}, {"ptmxmode", "0666"}, {"mode", "0620"}, {"gid", "5"}}},
    {"tmpfs",
     "dev",
     "shm",
     01777,
     nosuid_nodev_noexec,
     false,
     {{"mode", "1777"}, {"size", "65536k"}}},
    {"mqueue", "dev", "mqueue", 0755, nosuid_nodev_noexec, false, {}},
};
inline constexpr int mount_table_size = sizeof mount_table / sizeof mount_table[0];

struct dev_node {
    const char* name;
    unsigned major, minor;
};
inline constexpr dev_node dev_nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
                                         {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};

struct dev_link {
    const char* name;
    const char* target;
};
inline constexpr dev_link dev_links[] = {{"ptmx", "pts/ptmx"},
                                         {"fd", "/proc/self/fd"},
                                         {"stdin", "/proc/self/fd/0"},
                                         {"stdout", "/proc/self/fd/1"},
                                         {"stderr", "/proc/self/fd/2"}};

// Docker's and crun's masked paths, relative to the new root: a file gets the container's
// /dev/null bound over it, a folder an empty read-only tmpfs. Those this kernel lacks are skipped.
inline constexpr const char* masked_paths[] = {"proc/acpi",        "proc/kcore",
                                               "proc/keys",        "proc/latency_stats",
                                               "proc/timer_list",  "proc/timer_stats",
                                               "proc/sched_debug", "proc/scsi",
                                               "sys/firmware",     "sys/devices/virtual/powercap"};
inline constexpr int masked_paths_size = sizeof masked_paths / sizeof masked_paths[0];

// Bound onto themselves read-only (recursively, nosuid, nodev, noexec); skipped when missing.
// /sys is read-only already: it is mounted so.
inline constexpr const char* readonly_paths[] = {"proc/asound", "proc/bus", "proc/fs",
                                                 "proc/irq",    "proc/sys", "proc/sysrq-trigger"};
inline constexpr int readonly_paths_size = sizeof readonly_paths / sizeof readonly_paths[0];

// Written in the container's own network namespace before /proc/sys turns read-only, as Docker
// does: every group may open ICMP datagram sockets, so a ping that uses them (iputils') works
// without CAP_NET_RAW. Busybox's ping only opens raw sockets and needs CAP_NET_RAW all the same.
inline constexpr const char* ping_group_range_path = "proc/sys/net/ipv4/ping_group_range";
inline constexpr char ping_group_range[] = "0 2147483647";

} // namespace ctr::spawn
