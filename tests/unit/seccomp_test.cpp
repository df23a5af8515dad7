// The default seccomp programs, loaded for real into a forked child: no root needed, since the
// child sets no_new_privs first. Each probe picks arguments that fail differently without the
// filter, so an EPERM (or ENOSYS) can only be the filter's.
#include <cerrno>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "ctr/spawn/security.hpp"

using namespace ctr::spawn;

namespace {

constexpr std::uint64_t bit(int cap) {
    return std::uint64_t{1} << cap;
}

// errno of a raw syscall, 0 when it succeeded.
template <typename... Args> int err_of(long nr, Args... args) {
    return ::syscall(nr, args...) < 0 ? errno : 0;
}

#if defined(__x86_64__)
// The i386 entry point, where the kernel has it (ia32 emulation may be off): -errno or result.
long int80(long nr, long a = 0, long b = 0) {
    long ret;
    asm volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b) : "memory");
    return ret;
}
#endif

// Runs `probe` in a child that loaded the programs for `caps`; the probe returns the number of
// the first check that failed, or 0. The result is that number (or 100 + a load failure).
template <typename Probe> int in_filtered_child(std::uint64_t caps, Probe probe) {
    auto programs = seccomp_programs(caps);
    pid_t pid = ::fork();
    if (pid == 0) {
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(99);
        for (auto& p : programs)
            if (load_seccomp(p) != 0) ::_exit(100 + errno);
        ::_exit(probe());
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

} // namespace

TEST_CASE("seccomp: two programs, both non-empty and within the kernel's limit") {
    auto programs = seccomp_programs(default_capabilities);
    REQUIRE(programs.size() == 2);
    for (auto& p : programs) {
        CHECK(!p.empty());
        CHECK(p.size() <= 4096); // BPF_MAXINSNS
    }
}

TEST_CASE("seccomp: the default filter refuses what Docker's does and allows the rest") {
    int failed = in_filtered_child(default_capabilities, [] {
        if (err_of(SYS_keyctl, 0, 0, 0, 0, 0) != EPERM) return 1;
        if (err_of(SYS_add_key, nullptr, nullptr, nullptr, 0, 0) != EPERM) return 2;
        if (err_of(SYS_io_uring_setup, 0, nullptr) != EPERM) return 3;
        if (err_of(SYS_userfaultfd, 0) != EPERM) return 4;
        if (err_of(SYS_kexec_load, 0, 0, nullptr, 0) != EPERM) return 5;
        if (err_of(SYS_bpf, 0, nullptr, 0) != EPERM) return 6;
        // Unfiltered: ENOENT for the missing target, whoever asks.
        if (err_of(SYS_mount, "none", "/nonexistent/ctr-seccomp-test", "tmpfs", 0, nullptr) !=
            EPERM)
            return 7;
        if (err_of(SYS_umount2, "/nonexistent/ctr-seccomp-test", 0) != EPERM) return 8;
        if (err_of(SYS_unshare, CLONE_NEWNS) != EPERM) return 9;
        if (err_of(SYS_setns, -1, 0) != EPERM) return 10; // unfiltered: EBADF
        if (err_of(SYS_pivot_root, "/nonexistent", "/nonexistent") != EPERM) return 11;
        if (err_of(SYS_adjtimex, nullptr) != EPERM) return 12; // unfiltered: EFAULT
        if (err_of(SYS_clock_settime, -1, nullptr) != EPERM) return 13;
        if (err_of(SYS_init_module, nullptr, 0, "") != EPERM) return 14;
        if (err_of(SYS_open_tree, -1, "", 0) != EPERM) return 15;
        // CLONE_SIGHAND without CLONE_VM is EINVAL for the kernel; the filter speaks first.
        for (long flag : {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
                          CLONE_NEWNET, CLONE_NEWCGROUP})
            if (err_of(SYS_clone, flag | CLONE_SIGHAND, 0, 0, 0, 0) != EPERM) return 16;
        if (err_of(SYS_clone, CLONE_SIGHAND, 0, 0, 0, 0) != EINVAL) return 17;
        if (err_of(SYS_clone3, nullptr, 0) != ENOSYS) return 18; // unfiltered: EINVAL
        // personality: Linux, Linux32, UNAME26 and the query pass; ADDR_NO_RANDOMIZE does not.
        if (err_of(SYS_personality, 0x0040000) != EPERM) return 19;
        if (err_of(SYS_personality, 0x0400000) != EPERM) return 20; // READ_IMPLIES_EXEC
        if (err_of(SYS_personality, 0x20001) != EPERM) return 21;
        for (long ok : {0xffffffffL, 0x8L, 0x20000L, 0x20008L, 0x0L})
            if (err_of(SYS_personality, ok) != 0) return 22;
        // Still allowed: everyday calls, ptrace's neighbours, chroot (CAP_SYS_CHROOT is held).
        if (err_of(SYS_getpid) != 0) return 23;
        if (err_of(SYS_chroot, "/nonexistent/ctr-seccomp-test") == EPERM) return 24;
        if (err_of(SYS_kcmp, ::getpid(), ::getpid(), 0, 0, 0) == EPERM) return 25;
#if defined(__x86_64__)
        // The same rules through int 0x80, where this kernel offers it (getpid is 20 there).
        if (int80(20) > 0) {
            if (int80(288 /* i386 keyctl */) != -EPERM) return 26;
            if (int80(310 /* i386 unshare */, CLONE_NEWNS) != -EPERM) return 27;
            if (int80(136 /* i386 personality */, 0x0040000) != -EPERM) return 28;
        }
#endif
        return 0;
    });
    CHECK(failed == 0);
}

TEST_CASE("seccomp: a capability opens the calls Docker gates on it") {
    std::uint64_t caps = default_capabilities | bit(CAP_SYS_ADMIN) | bit(CAP_SYS_TIME);
    int failed = in_filtered_child(caps, [] {
        if (err_of(SYS_clone3, nullptr, 0) != EINVAL) return 1;
        if (err_of(SYS_setns, -1, 0) != EBADF) return 2;
        if (err_of(SYS_adjtimex, nullptr) != EFAULT) return 3;
        if (err_of(SYS_clone, CLONE_NEWNS | CLONE_SIGHAND, 0, 0, 0, 0) != EINVAL) return 4;
        // Never for a container, whatever it holds.
        if (err_of(SYS_keyctl, 0, 0, 0, 0, 0) != EPERM) return 5;
        if (err_of(SYS_io_uring_setup, 0, nullptr) != EPERM) return 6;
        return 0;
    });
    CHECK(failed == 0);
    // Dropping CAP_SYS_CHROOT closes chroot.
    failed = in_filtered_child(default_capabilities & ~bit(CAP_SYS_CHROOT), [] {
        return err_of(SYS_chroot, "/nonexistent/ctr-seccomp-test") == EPERM ? 0 : 1;
    });
    CHECK(failed == 0);
}
