// Small string helpers shared by the config parsers.
#pragma once

#include <string>
#include <string_view>

namespace ctr::config {

inline bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s);

// Control bytes written as \xNN, so a message quoting user input stays one readable line.
std::string printable(std::string_view s);

} // namespace ctr::config
