// The privileges a container keeps, computed by the parent before clone3 so the child only makes
// raw syscalls: its capability set and its seccomp programs.
#pragma once

#include <cstdint>
#include <linux/filter.h>
#include <vector>

#include "ctr/config/capabilities.hpp"

namespace ctr::spawn {

// Docker's default set: CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID,
// SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE.
inline constexpr std::uint64_t default_capabilities = 0xa80425fb;

// Docker's rule for cap_add and cap_drop: adding ALL grants every capability but the dropped
// ones; otherwise the default set minus the dropped plus the added (so dropping ALL and adding a
// few grants just those).
std::uint64_t capability_set(std::uint64_t add, std::uint64_t drop);

// The highest capability number the running kernel knows (PR_CAPBSET_READ answers up to it).
int last_capability();

// The supervisor's own permitted set: a container can hold no capability the supervisor lacks
// (capset refuses to grow the permitted set), e.g. under a supervisor confined itself.
std::uint64_t held_capabilities();

using bpf_program = std::vector<sock_filter>;

// Docker's default seccomp profile for a container holding `caps`, as programs that must all be
// loaded (the kernel applies the strictest answer). Everything is allowed except, with EPERM:
// what no container may do (kexec, keyrings, userfaultfd, io_uring, swap, obsolete calls), what
// needs a capability the container lacks (mount, unshare, setns, clone with namespace flags
// without CAP_SYS_ADMIN, modules without CAP_SYS_MODULE, the clocks without CAP_SYS_TIME, ...),
// and personality() other than Linux, Linux32, UNAME26 and the query; clone3 without
// CAP_SYS_ADMIN fails with ENOSYS so that libc falls back to clone, whose flags can be checked.
// The same rules apply to the i386 and x32 entry points on x86_64.
std::vector<bpf_program> seccomp_programs(std::uint64_t caps);

// Loads one program into the calling thread: 0 or an errno. Needs no_new_privs (or
// CAP_SYS_ADMIN). Async-signal-safe, for the child.
int load_seccomp(const bpf_program& program) noexcept;

} // namespace ctr::spawn
