// The completion tokens the coroutines use, in one place: Debian 12's Asio (1.22) keeps as_tuple
// under experimental, later versions under asio::.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace ctr {

// Completes with (error_code, results...) instead of throwing.
inline constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

} // namespace ctr
