// Everything a container's first process needs between clone3 and execve, computed by the parent
// beforehand so the child allocates nothing and only reads C strings.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/resource.h>
#include <vector>

#include "ctr/config/config.hpp"
#include "ctr/spawn/mount_table.hpp"
#include "ctr/spawn/security.hpp"

namespace ctr::spawn {

// Where one container's overlay lives under the supervisor's state dir.
struct overlay_paths {
    std::filesystem::path dir; // state_dir/containers/NAME
    std::filesystem::path upper() const { return dir / "upper"; }
    std::filesystem::path work() const { return dir / "work"; }
    // What a volatile overlay leaves in its work dir, and must be gone before the next mount.
    std::filesystem::path volatile_marker() const { return work() / "work/incompat/volatile"; }
    std::filesystem::path merged() const { return dir / "merged"; }
    // With a user namespace: where the child attaches the id-mapped image, the overlay's lower.
    std::filesystem::path lower() const { return dir / "lower"; }
};

// A supervisor-owned file bound over one in the container (/etc/hosts). C strings point into
// the plan's storage.
struct bind_spec {
    const char* source; // host path
    const char* parent; // inside the root, e.g. "etc"
    const char* leaf;   // e.g. "hosts"
    int tree = -1;      // with a user namespace: the source, cloned by the parent (userns.hpp)
};

// A `mounts` entry as the child binds it: the host path is opened before pivot_root, the target
// walked one component at a time inside the root, each created when missing, none a symlink.
struct user_mount {
    const char* source;     // host path
    const char* target;     // "/data/x", for messages
    std::size_t first_part; // the target's components: plan::mount_parts[first_part ...]
    std::size_t parts;      // at least 1
    bool source_is_dir;     // the last component is made a folder, else an empty file
    bool readonly;
    int tree = -1; // with a user namespace: the source, cloned (and made read-only) by the parent
};

// `userns = true`. The child is cloned into a new user namespace that owns all its other
// namespaces; the parent writes its id maps before sync point 1. The child then opens its
// container folder while its kernel uid is still the host's root, becomes root of its namespace
// (host uid base), and reaches upper, work and merged relative to that folder (mode 0711). What
// the mapped root may not reach or mount on the host, the parent cloned beforehand as detached
// mounts (spawn/userns.hpp) whose fds the child inherits: the image id-mapped so its files are
// owned by root inside, the device nodes (mknod is refused in a user namespace), /etc/hosts and
// the `mounts` sources.
struct userns_plan {
    bool enabled = false;
    std::uint32_t base = 0, size = 0;
    std::string dir; // the container's folder (overlay_paths::dir)
    int lower = -1;  // the image, id-mapped, attached at dir/lower by the child
    int devices[6] = {-1, -1, -1, -1, -1, -1}; // host nodes, in mount_table.hpp's dev_nodes order
};

// Move-only: argv, envp and candidates point into the storage vectors.
struct plan {
    plan() = default;
    plan(plan&&) = default;
    plan& operator=(plan&&) = default;
    plan(const plan&) = delete;
    plan& operator=(const plan&) = delete;

    std::string name;
    std::string hostname;
    std::string image;           // the shared read-only image (overlay lower dir)
    std::string merged;          // where the child mounts its overlay, in its own mount namespace
    std::string overlay_options; // lowerdir=...,upperdir=...,workdir=...; relative to
                                 // userns.dir with a user namespace
    std::string workdir;         // inside the container
    std::vector<std::string> argv_storage, env_storage, candidate_storage;
    std::vector<char*> argv, envp;       // null-terminated views of the storage
    std::vector<const char*> candidates; // argv[0] resolved against PATH, in search order
    std::vector<std::string> bind_storage;
    std::vector<bind_spec> binds;

    // Isolation, applied by the child in the order child.hpp draws.
    std::vector<std::string> mount_storage; // sources, targets and target components
    std::vector<const char*> mount_parts;
    std::vector<user_mount> mounts;
    bool readonly_rootfs = false;
    std::optional<rlimit> nofile;     // unset: inherited from the supervisor
    std::uint64_t capabilities = 0;   // bounding = permitted = effective; inheritable, ambient 0
    int last_capability = 0;          // the kernel's: the bounding set is dropped up to it
    std::vector<bpf_program> seccomp; // loaded in order; empty for `seccomp = unconfined`
    // cgroup.procs of the container's cgroup in each hierarchy (at most max_cgroup_hierarchies):
    // the child moves itself in before anything else (child.hpp, sync point 0).
    std::vector<std::string> cgroup_procs;

    // init = true: the child execs ctr-init from this sealed memfd (borrowed from the spawner's
    // init_image) with init_argv, {"ctr-init", "3", "--", command...}; -1 without init.
    int init_image = -1;
    std::vector<std::string> init_argv_storage;
    std::vector<char*> init_argv;
    // net.ipv4.ping_group_range: every group; in a user namespace every group it maps, since the
    // kernel refuses a gid that has no mapping.
    std::string ping_range = ping_group_range;
    userns_plan userns;
};

// The environment a container gets: PATH, HOSTNAME, HOME, container=ctr-supervisor, then the
// configured env (a later K=V replaces an earlier K).
std::vector<std::string> container_env(const config::container& c);

// Builds the plan; throws ctr::error when a path cannot be expressed as an overlay option.
// `hosts_file`, when not empty, is bound over the container's /etc/hosts.
plan make_plan(const config::container& c, const overlay_paths& paths,
               const std::filesystem::path& hosts_file = {});

// A process to exec in the running container `c`: its command, the container's environment with
// `env` (K=V) over it, `workdir` (empty: the container's), the container's privileges.
plan make_exec_plan(const config::container& c, const std::vector<std::string>& argv,
                    const std::vector<std::string>& env, const std::string& workdir, bool tty);
// Makes the child exec ctr-init from `image_fd` (an init_image's memfd, which must outlive the
// child's exec), which runs the plan's command as its child.
void use_init(plan& p, int image_fd);

} // namespace ctr::spawn
