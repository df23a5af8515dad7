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

} // namespace ctr::spawn
