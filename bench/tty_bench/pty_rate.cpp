#include "tty_bench/pty_rate.hpp"

#include "net_bench/host.hpp"
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "ctr/core/error.hpp"
#include "ctr/core/unique_fd.hpp"

namespace ctr::bench {

pty_rate measure_pty(const std::filesystem::path& busybox, std::uint64_t bytes) {
    unique_fd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master) throw_errno("posix_openpt");
    if (::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0)
        throw_errno("unlockpt(pty master)");
    const char* name = ::ptsname(master.get());
    if (!name) throw_errno("ptsname");
    unique_fd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) throw_errno("open({})", name);

    std::string count = std::to_string(bytes);
    std::vector<char*> argv{const_cast<char*>(busybox.c_str()),
                            const_cast<char*>("head"),
                            const_cast<char*>("-c"),
                            count.data(),
                            const_cast<char*>("/dev/zero"),
                            nullptr};
    unique_fd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    auto start = steady::now();
    pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork");
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::setsid();
        ::dup2(null_fd.get(), 0);
        ::dup2(slave.get(), 1);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    // Only the writer holds the slave now: its exit makes the master read EIO once drained.
    slave.reset();
    pty_rate r;
    std::vector<char> buf(256 * 1024);
    for (;;) {
        ssize_t n = ::read(master.get(), buf.data(), buf.size());
        if (n > 0) {
            r.bytes += static_cast<std::uint64_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            if (pending_signal()) ::kill(pid, SIGKILL);
            continue;
        }
        break; // EIO: the last slave fd closed and everything was read
    }
    r.seconds = std::chrono::duration<double>(steady::now() - start).count();
    int status = 0;
    ::waitpid(pid, &status, 0);
    throw_if_interrupted();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("{} head -c {} /dev/zero on a pty failed (status {:#x})", busybox.string(), bytes,
             status);
    if (r.bytes != bytes) fail("the pty delivered {} bytes of {}", r.bytes, bytes);
    return r;
}

} // namespace ctr::bench
