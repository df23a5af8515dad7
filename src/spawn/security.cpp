#include "ctr/spawn/security.hpp"

#include <cerrno>
#include <cstddef>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <map>
#include <memory>
#include <mutex>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ctr/core/error.hpp"
#include "ctr/core/unique_fd.hpp"

namespace ctr::spawn {
namespace {

constexpr int no_cap = -1;

// A call Docker's profile refuses unless the container holds one of the two capabilities
// (no_cap: refused to every container).
struct blocked_call {
    const char* name;
    int cap = no_cap;
    int other_cap = no_cap;
};

// clang-format off
constexpr blocked_call blocked_calls[] = {
    // Never for a container: the host's kernel, keyrings and memory, obsolete interfaces.
    {"kexec_load"}, {"kexec_file_load"}, {"create_module"}, {"keyctl"}, {"add_key"},
    {"request_key"}, {"userfaultfd"}, {"io_uring_setup"}, {"io_uring_enter"},
    {"io_uring_register"}, {"swapon"}, {"swapoff"}, {"nfsservctl"}, {"vm86"}, {"vm86old"},
    {"get_kernel_syms"}, {"query_module"}, {"sysfs"}, {"_sysctl"}, {"uselib"}, {"ustat"},
    // Mounts and namespaces, as CAP_SYS_ADMIN gates them in Docker's profile.
    {"mount", CAP_SYS_ADMIN}, {"umount", CAP_SYS_ADMIN}, {"umount2", CAP_SYS_ADMIN},
    {"pivot_root", CAP_SYS_ADMIN}, {"unshare", CAP_SYS_ADMIN}, {"setns", CAP_SYS_ADMIN},
    {"fsopen", CAP_SYS_ADMIN}, {"fsconfig", CAP_SYS_ADMIN}, {"fsmount", CAP_SYS_ADMIN},
    {"fspick", CAP_SYS_ADMIN}, {"open_tree", CAP_SYS_ADMIN}, {"move_mount", CAP_SYS_ADMIN},
    {"mount_setattr", CAP_SYS_ADMIN}, {"fanotify_init", CAP_SYS_ADMIN},
    {"lookup_dcookie", CAP_SYS_ADMIN}, {"name_to_handle_at", CAP_SYS_ADMIN},
    {"quotactl", CAP_SYS_ADMIN}, {"quotactl_fd", CAP_SYS_ADMIN},
    {"sethostname", CAP_SYS_ADMIN}, {"setdomainname", CAP_SYS_ADMIN},
    {"bpf", CAP_SYS_ADMIN, CAP_BPF}, {"perf_event_open", CAP_SYS_ADMIN, CAP_PERFMON},
    {"syslog", CAP_SYS_ADMIN, CAP_SYSLOG},
    {"open_by_handle_at", CAP_DAC_READ_SEARCH},
    {"reboot", CAP_SYS_BOOT},
    {"init_module", CAP_SYS_MODULE}, {"finit_module", CAP_SYS_MODULE},
    {"delete_module", CAP_SYS_MODULE},
    {"acct", CAP_SYS_PACCT},
    {"iopl", CAP_SYS_RAWIO}, {"ioperm", CAP_SYS_RAWIO},
    {"settimeofday", CAP_SYS_TIME}, {"stime", CAP_SYS_TIME}, {"clock_settime", CAP_SYS_TIME},
    {"clock_settime64", CAP_SYS_TIME}, {"clock_adjtime", CAP_SYS_TIME},
    {"clock_adjtime64", CAP_SYS_TIME}, {"adjtimex", CAP_SYS_TIME},
    {"vhangup", CAP_SYS_TTY_CONFIG},
    {"get_mempolicy", CAP_SYS_NICE}, {"mbind", CAP_SYS_NICE}, {"set_mempolicy", CAP_SYS_NICE},
    {"set_mempolicy_home_node", CAP_SYS_NICE}, {"migrate_pages", CAP_SYS_NICE},
    {"move_pages", CAP_SYS_NICE},
    {"chroot", CAP_SYS_CHROOT},
    // ptrace, kcmp and process_vm_* stay allowed (Docker does on kernels from 4.8 on).
    {"pidfd_getfd", CAP_SYS_PTRACE}, {"process_madvise", CAP_SYS_PTRACE},
};
// clang-format on

// clone() flags that make namespaces; without CAP_SYS_ADMIN each one makes clone fail.
constexpr std::uint64_t namespace_flags[] = {CLONE_NEWNS,    CLONE_NEWUTS, CLONE_NEWIPC,
                                             CLONE_NEWUSER,  CLONE_NEWPID, CLONE_NEWNET,
                                             CLONE_NEWCGROUP};

// personality() values Docker allows: PER_LINUX, PER_LINUX32, UNAME26, both, and the query.
constexpr std::uint32_t allowed_personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

bool holds(std::uint64_t caps, int cap) {
    return cap != no_cap && (caps >> cap & 1) != 0;
}

struct filter_release {
    void operator()(void* ctx) const { seccomp_release(ctx); }
};
using filter_ptr = std::unique_ptr<void, filter_release>;

void check_rc(int rc, const char* what, const char* call) {
    if (rc < 0) throw_sys(-rc, fmt::format("{}({})", what, call));
}

void block(scmp_filter_ctx ctx, const char* call, std::uint32_t action,
           std::initializer_list<scmp_arg_cmp> args = {}) {
    int nr = seccomp_syscall_resolve_name(call);
    if (nr == __NR_SCMP_ERROR) return; // a call this libseccomp does not know: no arch has it
    check_rc(seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()),
                                    args.size() ? args.begin() : nullptr),
             "seccomp_rule_add", call);
}

bpf_program export_program(scmp_filter_ctx ctx) {
    unique_fd mem(::memfd_create("ctr-seccomp", MFD_CLOEXEC));
    if (!mem) throw_errno("memfd_create(seccomp program)");
    check_rc(seccomp_export_bpf(ctx, mem.get()), "seccomp_export_bpf", "memfd");
    off_t size = ::lseek(mem.get(), 0, SEEK_END);
    if (size < 0) throw_errno("lseek(seccomp program)");
    if (size == 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0)
        fail("seccomp_export_bpf wrote {} bytes, not whole instructions", size);
    bpf_program program(static_cast<std::size_t>(size) / sizeof(sock_filter));
    auto* out = reinterpret_cast<char*>(program.data());
    for (off_t done = 0; done < size;) {
        ssize_t n = ::pread(mem.get(), out + done, static_cast<std::size_t>(size - done), done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw_errno("read(seccomp program)");
        done += n;
    }
    return program;
}

// The main program, from libseccomp: default allow, the blocked calls refused.
bpf_program main_program(std::uint64_t caps) {
    filter_ptr ctx(seccomp_init(SCMP_ACT_ALLOW));
    if (!ctx) fail("seccomp_init failed");
    // A binary tree of syscall numbers instead of a list: the kernel, which walks the program
    // for every syscall number of every arch when it loads it (the action cache), then takes a
    // few jumps per number instead of the whole list, for each container it starts.
    check_rc(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2), "seccomp_attr_set",
             "optimize");
    if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
        // The same rules for int 0x80 and x32 calls; without these arches, each such call would
        // meet the bad-arch action and kill the process, so no 32-bit program could run.
        check_rc(seccomp_arch_add(ctx.get(), SCMP_ARCH_X86), "seccomp_arch_add", "x86");
        check_rc(seccomp_arch_add(ctx.get(), SCMP_ARCH_X32), "seccomp_arch_add", "x32");
    }
    const std::uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    for (const auto& c : blocked_calls)
        if (!holds(caps, c.cap) && !holds(caps, c.other_cap)) block(ctx.get(), c.name, eperm);
    if (!holds(caps, CAP_SYS_ADMIN)) {
        // One rule per flag: rules for one call are alternatives, conditions in one rule are not.
        for (auto flag : namespace_flags)
            block(ctx.get(), "clone", eperm, {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)});
        // clone3 passes its flags in memory, out of a filter's reach: make libc use clone.
        block(ctx.get(), "clone3", SCMP_ACT_ERRNO(ENOSYS));
    }
    return export_program(ctx.get());
}

// A tiny assembler for the personality program: forward jumps to labels, resolved at the end.
class assembler {
  public:
    int label() {
        labels_.push_back(-1);
        return static_cast<int>(labels_.size()) - 1;
    }
    void bind(int l) { labels_[static_cast<std::size_t>(l)] = static_cast<int>(code_.size()); }
    void load(std::uint32_t offset) { code_.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset)); }
    void ret(std::uint32_t action) { code_.push_back(BPF_STMT(BPF_RET | BPF_K, action)); }
    // if (A == k) goto l; else fall through
    void jump_if(std::uint32_t k, int l) { compare(k, l, true); }
    // if (A != k) goto l; else fall through
    void jump_unless(std::uint32_t k, int l) { compare(k, l, false); }
    bpf_program finish() {
        for (const auto& f : fixups_) {
            int target = labels_[static_cast<std::size_t>(f.label)];
            int distance = target - static_cast<int>(f.at) - 1;
            if (target < 0 || distance < 0 || distance > 255) fail("bad jump in a BPF program");
            auto& insn = code_[f.at];
            (f.when_equal ? insn.jt : insn.jf) = static_cast<std::uint8_t>(distance);
        }
        return std::move(code_);
    }

  private:
    struct fixup {
        std::size_t at;
        int label;
        bool when_equal;
    };
    void compare(std::uint32_t k, int l, bool when_equal) {
        fixups_.push_back({code_.size(), l, when_equal});
        code_.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 0));
    }

    bpf_program code_;
    std::vector<int> labels_;
    std::vector<fixup> fixups_;
};

// libseccomp cannot compare one argument twice in a rule, nor let a rule allow what the default
// allows, so "anything but these five values" is written by hand: a second program that looks
// only at personality(). Its argument is an unsigned int: only the low 32 bits count.
bpf_program personality_program() {
    struct entry {
        std::uint32_t audit_arch;
        std::uint32_t token; // libseccomp's arch, to look the number up
    };
    std::vector<entry> arches{{seccomp_arch_native(), seccomp_arch_native()}};
    if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
        arches.push_back({AUDIT_ARCH_I386, SCMP_ARCH_X86});
        arches.push_back({AUDIT_ARCH_X86_64, SCMP_ARCH_X32}); // x32 numbers carry bit 30
    }
    assembler a;
    int check = a.label(), allow = a.label();
    a.load(offsetof(seccomp_data, arch));
    for (auto [audit_arch, token] : arches) {
        int nr = seccomp_syscall_resolve_name_arch(token, "personality");
        if (nr < 0) continue;
        int next = a.label();
        a.jump_unless(audit_arch, next);
        a.load(offsetof(seccomp_data, nr));
        a.jump_if(static_cast<std::uint32_t>(nr), check);
        a.load(offsetof(seccomp_data, arch)); // the next entry may share this arch (x32)
        a.bind(next);
    }
    a.ret(SECCOMP_RET_ALLOW);
    a.bind(check);
    constexpr std::uint32_t low_word = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 0 : 4;
    a.load(offsetof(seccomp_data, args) + low_word);
    for (auto value : allowed_personalities)
        a.jump_if(value, allow);
    a.ret(SECCOMP_RET_ERRNO | EPERM);
    a.bind(allow);
    a.ret(SECCOMP_RET_ALLOW);
    return a.finish();
}

} // namespace

std::uint64_t capability_set(std::uint64_t add, std::uint64_t drop) {
    if (add == config::all_capabilities) return config::all_capabilities & ~drop;
    return (default_capabilities & ~drop) | add;
}

int last_capability() {
    int cap = 0;
    while (cap < 63 && ::prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0)
        ++cap;
    return cap;
}

std::uint64_t held_capabilities() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    if (::syscall(SYS_capget, &header, data) != 0) throw_errno("capget(supervisor)");
    return data[0].permitted | std::uint64_t{data[1].permitted} << 32;
}

std::vector<bpf_program> seccomp_programs(std::uint64_t caps) {
    // libseccomp takes about a millisecond to build the programs, once per start of every
    // container otherwise; they depend on nothing but the capability set, of which a config has
    // a handful. The lock is for tests that plan from several threads; the supervisor has one.
    static std::mutex lock;
    static std::map<std::uint64_t, std::vector<bpf_program>> built;
    std::lock_guard hold(lock);
    auto it = built.find(caps);
    if (it == built.end()) {
        std::vector<bpf_program> programs;
        programs.push_back(main_program(caps));
        programs.push_back(personality_program());
        it = built.emplace(caps, std::move(programs)).first;
    }
    return it->second;
}

int load_seccomp(const bpf_program& program) noexcept {
    sock_fprog prog{static_cast<unsigned short>(program.size()),
                    const_cast<sock_filter*>(program.data())};
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return errno;
    return 0;
}

} // namespace ctr::spawn
