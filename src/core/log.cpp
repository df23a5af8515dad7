#include "ctr/core/log.hpp"

#include <string>
#include <sys/uio.h>
#include <time.h>

#include "ctr/core/error.hpp"

namespace ctr::log {
namespace {
level g_level = level::info;

const char* name(level l) {
    switch (l) {
    case level::debug:
        return "debug";
    case level::info:
        return "info";
    case level::warn:
        return "warn";
    case level::error:
        return "error";
    }
    return "?";
}
} // namespace

void set_level(level l) {
    g_level = l;
}
level current_level() {
    return g_level;
}

level parse_level(std::string_view s) {
    for (level l : {level::debug, level::info, level::warn, level::error})
        if (s == name(l)) return l;
    fail("unknown log level '{}' (debug, info, warn, error)", s);
}

void write(level l, std::string_view subject, std::string_view message) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    std::string line = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {:<5} [{}] {}\n",
                                   t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min,
                                   t.tm_sec, ts.tv_nsec / 1000000, name(l), subject, message);
    // One write per line so lines from concurrent writers never interleave.
    ssize_t r = ::write(2, line.data(), line.size());
    (void)r;
}

} // namespace ctr::log
