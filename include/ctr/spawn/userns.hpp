// The parent's side of `userns = true` (plan.hpp, userns_plan): the id maps, the detached mounts
// the child attaches, and the overlay folders owned by the mapped root.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <sys/types.h>
#include <vector>

#include "ctr/config/config.hpp"
#include "ctr/core/unique_fd.hpp"
#include "ctr/spawn/plan.hpp"

namespace ctr::spawn {

// The line a uid_map or gid_map gets: "0 BASE SIZE\n".
std::string id_map_line(const config::id_range& r);

// Writes the container's uid and gid maps (sync point 1 waits for them). setgroups stays allowed:
// the writer is privileged over the parent namespace, and root inside may then drop or set groups.
void write_id_maps(pid_t pid, const config::id_range& r);

// A user namespace with the container's map, made by a helper process that lives only until its
// namespace is open. The image is id-mapped through it before the container is cloned, so the
// child inherits the mount; an id-mapped mount needs only the same map, not the same namespace.
unique_fd make_mapping_userns(const config::id_range& r);

// The detached mounts the plan's fds name; they may close once the child is cloned.
struct host_trees {
    std::vector<unique_fd> fds;
};

// Clones, as detached mounts, what the child's mapped root could neither reach nor mount: the
// image id-mapped through `mapping_userns`, the host's device nodes, the supervisor's bind files
// (/etc/hosts) and the `mounts` sources (read-only ones made so here: the child has no say over
// a mount from the host's namespace). Fills the plan's fds.
host_trees clone_host_trees(plan& p, int mapping_userns);

// Makes the overlay's folders fit the container's ids: upper, work and lower owned by the mapped
// root when `userns` is set, the container folder searchable (0711) so that root reaches them.
// When the mapping changed since the last run (recorded in the folder's "idmap" file) the upper
// tree is shifted to the new map, so a container keeps its files across `userns` on and off:
// host id BASE+n becomes n, and back. The work folder, the overlay's scratch space, is emptied.
void prepare_overlay_dirs(const overlay_paths& paths,
                          const std::optional<config::id_range>& userns);

// A file of the supervisor's bound into the container (/etc/hosts): owned by the mapped root and
// 0644, so that root inside reads and may edit it as it could without a user namespace.
void give_to_mapped_root(const std::filesystem::path& file, const config::id_range& r);

// Pure: where one owner id of the upper tree goes when the map changes from `from` to `to`
// (nothing: the identity). Ids outside the old map, or past the new one, stay as they are.
std::uint32_t shift_id(std::uint32_t id, const std::optional<config::id_range>& from,
                       const std::optional<config::id_range>& to);

} // namespace ctr::spawn
