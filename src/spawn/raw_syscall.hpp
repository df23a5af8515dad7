// System calls for the child between clone3 and execve, which never touch errno or any other
// libc state. The child shares the supervisor's memory (CLONE_VM, launch.cpp), its thread
// pointer included, so errno is the supervisor's own, written by its thread at any moment; and
// libc's set*id wrappers would signal the supervisor's threads. Failure is -errno, as the
// kernel returns it.
#pragma once

#include <cerrno>
#include <sys/syscall.h>
#include <type_traits>
#include <unistd.h>

namespace ctr::spawn::raw {

template <class T> long arg(T v) noexcept {
    if constexpr (std::is_pointer_v<T> || std::is_null_pointer_v<T>)
        return reinterpret_cast<long>(v);
    else
        return static_cast<long>(v);
}

#if defined(__x86_64__)
inline long call6(long nr, long a, long b, long c, long d, long e, long f) noexcept {
    long ret;
    register long r10 asm("r10") = d;
    register long r8 asm("r8") = e;
    register long r9 asm("r9") = f;
    asm volatile("syscall"
                 : "=a"(ret)
                 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                 : "rcx", "r11", "memory");
    return ret;
}
// Only x86_64 clones with CLONE_VM; elsewhere the child is a copy and libc's errno is its own.
inline constexpr bool shares_memory = true;
#else
inline long call6(long nr, long a, long b, long c, long d, long e, long f) noexcept {
    long r = ::syscall(nr, a, b, c, d, e, f);
    return r == -1 ? -errno : r;
}
inline constexpr bool shares_memory = false;
#endif

// sys(SYS_openat, dirfd, path, flags, mode): the result, or -errno.
template <class... A> long sys(long nr, A... a) noexcept {
    static_assert(sizeof...(A) <= 6);
    long v[6] = {arg(a)...};
    return call6(nr, v[0], v[1], v[2], v[3], v[4], v[5]);
}

inline int err(long r) noexcept {
    return r < 0 ? static_cast<int>(-r) : 0;
}

[[noreturn]] inline void exit_group(int code) noexcept {
    for (;;)
        sys(SYS_exit_group, code);
}

} // namespace ctr::spawn::raw
