// Restart delays: 100 ms doubling to a 30 s cap, back to 100 ms once a run lasted 10 s. A
// container that crashes at once costs the supervisor a few wake-ups a minute, not a busy loop.
#pragma once

#include <chrono>

namespace ctr::supervise {

class backoff {
  public:
    using ms = std::chrono::milliseconds;
    explicit backoff(ms initial = ms(100), ms cap = ms(30'000), ms healthy = ms(10'000))
        : initial_(initial), cap_(cap), healthy_(healthy), next_(initial) {}

    // A run ended after `lasted` (zero for a start that failed): the delay before the next one.
    ms after_run(ms lasted) {
        if (lasted >= healthy_) next_ = initial_;
        ms delay = next_;
        next_ = std::min(cap_, next_ * 2);
        return delay;
    }
    void reset() { next_ = initial_; }

  private:
    ms initial_, cap_, healthy_, next_;
};

} // namespace ctr::supervise
