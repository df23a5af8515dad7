// The tty layer's headers promise ctr::error for failed calls (callers catch one type for
// "this log or terminal is unusable"); the message still carries the call, the object and the
// errno text, like throw_errno's.
#pragma once

#include <cerrno>
#include <system_error>

#include <fmt/format.h>

#include "ctr/core/error.hpp"

namespace ctr::tty::detail {

template <typename... Args>
[[noreturn]] void fail_errno(fmt::format_string<Args...> f, Args&&... args) {
    int err = errno;
    throw error(fmt::format("{}: {}", fmt::format(f, std::forward<Args>(args)...),
                            std::generic_category().message(err)));
}

} // namespace ctr::tty::detail
