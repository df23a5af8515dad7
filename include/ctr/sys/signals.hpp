// The supervisor's own signals arrive through one signalfd, read on the event loop.
#pragma once

#include <initializer_list>
#include <signal.h>

#include "ctr/core/unique_fd.hpp"

namespace ctr::sys {

// Blocks `signals` for the calling thread and returns a signalfd that reads them.
unique_fd block_into_signalfd(std::initializer_list<int> signals);
// SIGPIPE would kill the supervisor when a client hangs up mid-write; errors say EPIPE instead.
void ignore_sigpipe();

} // namespace ctr::sys
