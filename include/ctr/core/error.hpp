// Errors: every failed syscall becomes a std::system_error whose message names the call and the
// object it acted on, e.g. `mount("proc" on "/run/x/rootfs/proc"): Operation not permitted`.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

#include <fmt/format.h>

namespace ctr {

// Throws std::system_error(err) with `what` as context.
[[noreturn]] void throw_sys(int err, std::string what);

// Same, formatting the context with fmt; errno is read before formatting can clobber it.
template <typename... Args>
[[noreturn]] void throw_errno(fmt::format_string<Args...> f, Args&&... args) {
    int err = errno;
    throw_sys(err, fmt::format(f, std::forward<Args>(args)...));
}

// An error that is not a syscall's: a bad value, a refused request.
class error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

template <typename... Args> [[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
    throw error(fmt::format(f, std::forward<Args>(args)...));
}

} // namespace ctr
