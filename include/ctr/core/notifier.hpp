// Wakes every coroutine waiting on it. It carries no state of its own: waiters re-check the state
// they care about after each wake-up, so a notify with nobody waiting is never "lost".
#pragma once

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

namespace ctr {

class notifier {
  public:
    explicit notifier(asio::any_io_executor ex);
    // Completes at the next notify() (or when the waiting coroutine is cancelled).
    asio::awaitable<void> wait();
    void notify();

  private:
    asio::steady_timer timer_; // never expires; cancel() is the broadcast
};

} // namespace ctr
