// ctr-init: the optional PID 1 of a container (`init = true`). It starts the command as its only
// child, passes every signal it gets on to it, reaps every zombie of the container (orphans are
// reparented to PID 1), and exits with the command's status (128+N when signal N ended it), as
// tini does. The command is then not PID 1, so a signal it has no handler for acts as usual
// instead of being dropped by the kernel: `stop` of a shell ends at once.
//
// The supervisor execs it from a sealed memfd, so the container's /proc/1/exe is a copy nobody can
// write, never a host binary (CVE-2019-5736). Linked statically: it runs on any image.
//
// Usage: ctr-init REPORT_FD -- COMMAND [ARG...]
// REPORT_FD (-1 for none) is the write end of the supervisor's set-up report pipe, open across
// ctr-init's own exec. It is handed on to the command close-on-exec, so the supervisor sees EOF
// once the command itself exec'd, or the same {step, errno, detail} record its own child would
// write (`exec "/bin/nosuch": No such file or directory`).
//
// Signals go to the command's pid, not its process group: a shell that traps SIGTERM decides
// itself what its children get, as it would under `docker stop`; what it leaves behind dies with
// PID 1 when ctr-init exits.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctr/spawn/child.hpp"

namespace {

void report_failure(int report, ctr::spawn::step what, int err) {
    if (report < 0) return;
    ctr::spawn::failure f{what, err, -1};
    ssize_t r = ::write(report, &f, sizeof f); // one write of 12 bytes to a pipe: atomic
    (void)r;
}

// The forked child. Every signal is still blocked (inherited from ctr-init), so tcsetpgrp from a
// background group raises no SIGTTOU, and nothing reaches the command before it can handle it.
[[noreturn]] void run_command(int report, char** argv) {
    // Its own process group, the terminal's foreground one when stdin is our terminal, so job
    // control and the terminal's ^C / ^Z reach the command directly. Without a controlling
    // terminal (tty = false) tcsetpgrp fails with ENOTTY, which is fine.
    ::setpgid(0, 0);
    if (::isatty(0)) ::tcsetpgrp(0, ::getpid());
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvp(argv[0], argv);
    int err = errno;
    report_failure(report, ctr::spawn::step::exec, err);
    ::_exit(err == ENOENT || err == ENOTDIR ? ctr::spawn::exit_not_found
                                            : ctr::spawn::exit_not_executable);
}

int parse_fd(const char* text) {
    char* end = nullptr;
    errno = 0;
    long fd = ::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || fd < -1 || fd > 1 << 20) return -2;
    return static_cast<int>(fd);
}

} // namespace

int main(int argc, char** argv) {
    int report = argc >= 4 && ::strcmp(argv[2], "--") == 0 ? parse_fd(argv[1]) : -2;
    if (report == -2) {
        static const char usage[] = "usage: ctr-init REPORT_FD -- COMMAND [ARG...]\n";
        ssize_t r = ::write(2, usage, sizeof usage - 1);
        (void)r;
        return 2;
    }
    // Exec'd from an fd, the kernel names it after that fd; `ps` and /proc/1/comm say what it is.
    ::prctl(PR_SET_NAME, "ctr-init", 0, 0, 0);
    // Not inherited by the command: it only learns of its own exec through EOF.
    if (report >= 0 && ::fcntl(report, F_SETFD, FD_CLOEXEC) != 0) report = -1;

    // Every signal waits in the queue for sigwaitinfo; nothing runs in a handler. The supervisor
    // already blocked them all before exec'ing this, so none sent in between is lost (PID 1 of a
    // namespace drops an unblocked signal it has no handler for). Faults of ctr-init itself
    // still kill it: the kernel forces those through any mask.
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);

    pid_t command = ::fork();
    if (command < 0) {
        report_failure(report, ctr::spawn::step::init_fork, errno);
        return ctr::spawn::exit_setup_failed;
    }
    if (command == 0) run_command(report, argv + 3);
    // The child holds its own copy until its exec: EOF reaches the supervisor only then.
    if (report >= 0) ::close(report);

    for (;;) {
        siginfo_t info{};
        int sig = ::sigwaitinfo(&all, &info);
        if (sig < 0) continue; // EINTR: a stop/continue of ctr-init itself
        if (sig != SIGCHLD) {
            ::kill(command, sig);
            continue;
        }
        // SIGCHLDs merge while pending: reap everything that is ready, not one per signal.
        int status = 0;
        pid_t pid;
        while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid != command) continue;
            // The command is gone: whatever it left in the namespace dies with PID 1.
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            return 128 + WTERMSIG(status);
        }
    }
}
