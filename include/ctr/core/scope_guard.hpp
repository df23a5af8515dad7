// Arm an undo, disarm it at the commit point: a half-done setup leaves nothing behind.
#pragma once

#include <utility>

namespace ctr {

template <typename F> class scope_guard {
  public:
    explicit scope_guard(F f) : f_(std::move(f)) {}
    scope_guard(const scope_guard&) = delete;
    scope_guard& operator=(const scope_guard&) = delete;
    ~scope_guard() {
        if (armed_) f_();
    }
    void dismiss() noexcept { armed_ = false; }

  private:
    F f_;
    bool armed_ = true;
};

} // namespace ctr
