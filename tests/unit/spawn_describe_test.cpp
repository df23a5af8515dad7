// A child's failure record becomes one message from the parent's plan: the call, the object and
// the container, for each isolation step.
#include <cerrno>
#include <string>

#include <doctest/doctest.h>

#include "ctr/spawn/child.hpp"
#include "ctr/spawn/plan.hpp"

using namespace ctr::spawn;

namespace {

plan sample_plan(bool seccomp = true) {
    ctr::config::container c;
    c.name = "web";
    c.rootfs = "/srv/image";
    c.command = {"httpd", "-f"};
    c.isolation.seccomp = seccomp;
    c.isolation.nofile = ctr::config::rlimit_pair{1024, 4096};
    c.isolation.mounts = {{"/tmp", "/srv/cache", true}, {"/", "/host", false}};
    return make_plan(c, {"/run/ctr/containers/web"});
}

std::string message(step s, int err, int detail = -1) {
    return describe({s, err, detail}, sample_plan());
}

} // namespace

TEST_CASE("plan: isolation defaults and the mounts, split for the child") {
    auto p = sample_plan();
    CHECK(p.capabilities == (default_capabilities & held_capabilities()));
    CHECK(p.last_capability >= 40);
    CHECK(p.seccomp.size() == 2);
    CHECK(sample_plan(false).seccomp.empty());
    REQUIRE(p.nofile.has_value());
    CHECK(p.nofile->rlim_cur == 1024);
    CHECK(p.nofile->rlim_max == 4096);
    REQUIRE(p.mounts.size() == 2);
    CHECK(std::string(p.mounts[0].source) == "/tmp");
    CHECK(std::string(p.mounts[0].target) == "/srv/cache");
    CHECK(p.mounts[0].source_is_dir);
    CHECK(p.mounts[0].readonly);
    REQUIRE(p.mounts[0].parts == 2);
    CHECK(std::string(p.mount_parts[p.mounts[0].first_part]) == "srv");
    CHECK(std::string(p.mount_parts[p.mounts[0].first_part + 1]) == "cache");
    CHECK(p.mounts[1].parts == 1);
    CHECK(std::string(p.mount_parts[p.mounts[1].first_part]) == "host");
    CHECK_FALSE(p.mounts[1].readonly);
    // Moved plans keep their C strings valid (the child reads them after the move).
    plan moved = std::move(p);
    CHECK(std::string(moved.mounts[0].source) == "/tmp");
    CHECK(std::string(moved.mount_parts[moved.mounts[1].first_part]) == "host");
}

TEST_CASE("plan: a mounts source gone since the config was read fails the start, named") {
    ctr::config::container c;
    c.name = "web";
    c.rootfs = "/srv/image";
    c.command = {"httpd"};
    c.isolation.mounts = {{"/nonexistent/ctr-test", "/data", false}};
    CHECK_THROWS_WITH(make_plan(c, {"/run/ctr/containers/web"}),
                      "mounts: \"/nonexistent/ctr-test\" for \"/data\" in container web: No such "
                      "file or directory");
}

TEST_CASE("describe: every isolation step names its call, object and container") {
    CHECK(message(step::bind_open_source, ENOENT, 0) ==
          "open_tree(host path) for mounts = /tmp:/srv/cache:ro in container web: No such file "
          "or directory");
    CHECK(message(step::bind_set_readonly, EPERM, 0) ==
          "mount_setattr(MOUNT_ATTR_RDONLY) for mounts = /tmp:/srv/cache:ro in container web: "
          "Operation not permitted");
    CHECK(message(step::bind_make_target, EISDIR, 1) ==
          "create the mount point for mounts = /:/host in container web: Is a directory");
    CHECK(message(step::bind_open_target, ELOOP, 1) ==
          "open the mount point without following symlinks for mounts = /:/host in container "
          "web: Too many levels of symbolic links");
    CHECK(message(step::bind_move, EINVAL, 1) ==
          "move_mount for mounts = /:/host in container web: Invalid argument");
    CHECK(message(step::set_ping_range, EROFS) ==
          "write \"0 2147483647\" to /proc/sys/net/ipv4/ping_group_range in container web: "
          "Read-only file system");
    CHECK(message(step::open_masked, ELOOP, 1) ==
          "open masked path \"/proc/kcore\" in container web without following symlinks: Too "
          "many levels of symbolic links");
    CHECK(message(step::mask_with_null, EPERM, 2) ==
          "bind /dev/null over \"/proc/keys\" in container web: Operation not permitted");
    CHECK(message(step::mask_with_null, ENOENT) ==
          "open /dev/null in container web: No such file or directory");
    CHECK(message(step::mask_with_tmpfs, ENOMEM, 0) ==
          "mount an empty read-only tmpfs over \"/proc/acpi\" in container web: Cannot allocate "
          "memory");
    CHECK(message(step::open_readonly_path, EACCES, 4) ==
          "open \"/proc/sys\" in container web without following symlinks: Permission denied");
    CHECK(message(step::make_readonly_path, EPERM, 4) ==
          "bind \"/proc/sys\" read-only onto itself in container web: Operation not permitted");
    CHECK(message(step::make_root_readonly, EBUSY) ==
          "mount_setattr(\"/run/ctr/containers/web/merged\", MOUNT_ATTR_RDONLY) for "
          "readonly_rootfs: Device or resource busy");
    CHECK(message(step::set_rlimit, EPERM) ==
          "setrlimit(RLIMIT_NOFILE, 1024:4096): Operation not permitted");
    CHECK(message(step::drop_bounding, EPERM, 21) ==
          "prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN): Operation not permitted");
    CHECK(message(step::drop_bounding, EINVAL, 50) ==
          "prctl(PR_CAPBSET_DROP, capability 50): Invalid argument");
    CHECK(message(step::clear_ambient, EINVAL) ==
          "prctl(PR_CAP_AMBIENT_CLEAR_ALL): Invalid argument");
    CHECK(message(step::set_no_new_privs, EINVAL) ==
          "prctl(PR_SET_NO_NEW_PRIVS): Invalid argument");
    CHECK(message(step::set_capabilities, EPERM).starts_with("capset(effective = permitted = 0x"));
    auto seccomp = message(step::load_seccomp, EINVAL, 1);
    CHECK(seccomp.starts_with("seccomp(SECCOMP_SET_MODE_FILTER, program 2 of 2, "));
    CHECK(seccomp.ends_with(" instructions): Invalid argument"));
}

TEST_CASE("describe: the child's own cgroup join and namespaces") {
    auto p = sample_plan();
    p.cgroup_procs = {"/sys/fs/cgroup/cpu/ctr/web/cgroup.procs",
                      "/sys/fs/cgroup/memory/ctr/web/cgroup.procs"};
    CHECK(
        describe({step::join_cgroup, ENOSPC, 1}, p) ==
        "write(\"/sys/fs/cgroup/memory/ctr/web/cgroup.procs\" <- \"0\"): No space left on device");
    CHECK(describe({step::join_cgroup, EACCES, 7}, p) ==
          "write(\"cgroup.procs\" <- \"0\"): Permission denied");
    CHECK(describe({step::make_namespaces, ENOSPC, -1}, p) ==
          "unshare(CLONE_NEWCGROUP | CLONE_NEWNET): No space left on device");
}
