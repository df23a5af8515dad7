// ctr-pause: the container command of net_bench's default workload, like Kubernetes' pause
// container: it waits in pause(2) and exits 0 on SIGTERM or SIGINT. No libc at all: a static
// glibc program spends ~0.7 ms of CPU before main on this kind of VM (its CPU feature probing
// runs many `cpuid` instructions, each a trap to the hypervisor), which a benchmark of the
// supervisor would otherwise bill to the supervisor. x86_64 only; built -nostdlib -nostartfiles.
#include <asm/signal.h>
#include <asm/unistd.h>

namespace {

long raw_syscall(long nr, long a = 0, long b = 0, long c = 0, long d = 0) {
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}

// The kernel's own struct sigaction for x86_64 (not libc's): the restorer is mandatory there,
// since the kernel returns from a handler into it and it must call rt_sigreturn.
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    unsigned long mask;
};

void leave(int) {
    raw_syscall(__NR_exit_group, 0);
}

} // namespace

extern "C" {
void ctr_pause_restorer();
[[noreturn]] void ctr_pause_main();
}

// The entry point: the kernel starts it with %rsp 16-byte aligned and no return address, while
// a C++ function expects the alignment of a call; the restorer must not touch the stack the
// kernel left for rt_sigreturn.
static_assert(__NR_rt_sigreturn == 15, "ctr_pause_restorer hard-codes it");
__asm__(".pushsection .text\n"
        ".globl _start\n"
        "_start:\n"
        "  xor %ebp, %ebp\n"
        "  and $-16, %rsp\n"
        "  call ctr_pause_main\n"
        "  hlt\n"
        "ctr_pause_restorer:\n"
        "  mov $15, %eax\n"
        "  syscall\n"
        ".popsection\n");

void ctr_pause_main() {
    kernel_sigaction action{leave, SA_RESTORER, ctr_pause_restorer, 0};
    // SIGTERM is what the supervisor sends to stop a container; as the PID 1 of its pid
    // namespace this process would ignore it without a handler.
    raw_syscall(__NR_rt_sigaction, SIGTERM, reinterpret_cast<long>(&action), 0, sizeof action.mask);
    raw_syscall(__NR_rt_sigaction, SIGINT, reinterpret_cast<long>(&action), 0, sizeof action.mask);
    for (;;)
        raw_syscall(__NR_pause);
}
