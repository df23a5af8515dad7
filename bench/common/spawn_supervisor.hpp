// How both benchmarks start the ctr-supervisor they measure (or the wrapper running it): as our
// child in a process group of its own, so that a Ctrl-C on the terminal reaches the benchmark
// alone, which then stops it once; told to get SIGTERM should the benchmark die; with an empty
// signal mask, stdin from /dev/null and stdout and stderr appended to the caller's log.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

#include "ctr/core/unique_fd.hpp"

namespace ctr::bench {

struct spawned_supervisor {
    pid_t pid = -1;
    unique_fd pidfd;
};

// How argv[0] is found: as given (an absolute path), or searched in $PATH (a --wrap program
// such as `valgrind`).
enum class program_lookup { as_given, search_path };

// Forks and execs `argv`; the child dups `log_fd` and does nothing else but the steps above. When
// no pidfd can be had for the child it is killed with SIGKILL and reaped before the throw, so
// the caller only ever owns a child it can watch.
spawned_supervisor spawn_supervisor(const std::vector<std::string>& argv, int log_fd,
                                    program_lookup lookup);

} // namespace ctr::bench
