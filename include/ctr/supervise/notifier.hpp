// The notifier moved to core (the tty layer's hub wakes its clients with it too).
#pragma once

#include "ctr/core/notifier.hpp"

namespace ctr::supervise {
using ctr::notifier;
} // namespace ctr::supervise
