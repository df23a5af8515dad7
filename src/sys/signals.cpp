#include "ctr/sys/signals.hpp"

#include <sys/signalfd.h>

#include "ctr/core/error.hpp"

namespace ctr::sys {

unique_fd block_into_signalfd(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : signals)
        sigaddset(&set, s);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) throw_errno("sigprocmask(SIG_BLOCK)");
    int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) throw_errno("signalfd");
    return unique_fd(fd);
}

void ignore_sigpipe() {
    struct sigaction sa {};
    sa.sa_handler = SIG_IGN;
    if (::sigaction(SIGPIPE, &sa, nullptr) != 0) throw_errno("sigaction(SIGPIPE)");
}

} // namespace ctr::sys
