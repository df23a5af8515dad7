#include "ctr/config/capabilities.hpp"

#include "text.hpp"
#include <stdexcept>

#include <fmt/format.h>

namespace ctr::config {
namespace {

// Indexed by capability number, as in <linux/capability.h>.
constexpr const char* names[capability_count] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

char upper(char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (upper(a[i]) != upper(b[i])) return false;
    return true;
}

} // namespace

const char* capability_name(int cap) {
    return cap >= 0 && cap < capability_count ? names[cap] : nullptr;
}

std::optional<int> capability_number(std::string_view name) {
    if (name.size() > 4 && iequals(name.substr(0, 4), "CAP_")) name.remove_prefix(4);
    for (int i = 0; i < capability_count; ++i)
        if (iequals(name, std::string_view(names[i]).substr(4))) return i;
    return std::nullopt;
}

std::uint64_t parse_capabilities(std::string_view list) {
    std::uint64_t mask = 0;
    bool any = false;
    constexpr std::string_view separators = ", \t";
    for (std::size_t pos = 0; pos < list.size();) {
        auto start = list.find_first_not_of(separators, pos);
        if (start == std::string_view::npos) break;
        auto end = list.find_first_of(separators, start);
        auto name = list.substr(start, end == std::string_view::npos ? end : end - start);
        pos = end == std::string_view::npos ? list.size() : end;
        any = true;
        if (iequals(name, "ALL") || iequals(name, "CAP_ALL")) {
            mask = all_capabilities;
            continue;
        }
        auto cap = capability_number(name);
        if (!cap)
            throw std::invalid_argument(fmt::format(
                "unknown capability '{}' (expected names like NET_ADMIN or CAP_SYS_TIME, or ALL)",
                printable(name)));
        mask |= std::uint64_t{1} << *cap;
    }
    if (!any) throw std::invalid_argument("expected capability names like NET_ADMIN, or ALL");
    return mask;
}

} // namespace ctr::config
