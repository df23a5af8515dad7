// One line per event on stderr: time, level, subject (a container's name or "supervisor"), message.
#pragma once

#include <string_view>

#include <fmt/format.h>

namespace ctr::log {

enum class level { debug, info, warn, error };

void set_level(level l);
level current_level();
// Parses "debug", "info", "warn", "error"; throws ctr::error on anything else.
level parse_level(std::string_view s);
void write(level l, std::string_view subject, std::string_view message);

template <typename... Args>
void debug(std::string_view subject, fmt::format_string<Args...> f, Args&&... args) {
    if (current_level() <= level::debug)
        write(level::debug, subject, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(std::string_view subject, fmt::format_string<Args...> f, Args&&... args) {
    if (current_level() <= level::info)
        write(level::info, subject, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(std::string_view subject, fmt::format_string<Args...> f, Args&&... args) {
    if (current_level() <= level::warn)
        write(level::warn, subject, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(std::string_view subject, fmt::format_string<Args...> f, Args&&... args) {
    write(level::error, subject, fmt::format(f, std::forward<Args>(args)...));
}

} // namespace ctr::log
