#include "ctr/core/notifier.hpp"

#include <asio/use_awaitable.hpp>

#include "ctr/core/awaitable.hpp"

namespace ctr {

notifier::notifier(asio::any_io_executor ex) : timer_(ex, asio::steady_timer::time_point::max()) {}

asio::awaitable<void> notifier::wait() {
    co_await timer_.async_wait(ctr::as_tuple_awaitable);
}

void notifier::notify() {
    timer_.cancel();
}

} // namespace ctr
