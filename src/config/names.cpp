#include "text.hpp"

#include <fmt/format.h>

#include "ctr/config/config.hpp"

namespace ctr::config {
namespace {

bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

} // namespace

std::optional<std::string> invalid_name_reason(std::string_view name) {
    if (name.empty()) return "empty";
    if (name == "." || name == "..") return "'.' and '..' are not names";
    if (name.size() > 63) return "longer than 63 characters";
    if (!is_alnum(name.front())) return "must start with a letter or digit";
    for (char c : name)
        if (!is_alnum(c) && c != '_' && c != '.' && c != '-')
            return fmt::format("contains '{}'; only letters, digits, '_', '.' and '-' are allowed",
                               printable(std::string_view(&c, 1)));
    return std::nullopt;
}

std::optional<std::string> invalid_hostname_reason(std::string_view name) {
    if (name.empty()) return "empty";
    if (name.size() > 64) return "longer than 64 characters";
    // RFC 1123: dot-separated labels of letters, digits and '-', none empty or edged with '-'.
    for (std::string_view rest = name;;) {
        auto dot = rest.find('.');
        auto label = rest.substr(0, dot);
        if (label.empty()) return "empty label between dots";
        if (label.size() > 63) return "label longer than 63 characters";
        if (label.front() == '-' || label.back() == '-') return "a label starts or ends with '-'";
        for (char c : label)
            if (!is_alnum(c) && c != '-')
                return fmt::format("contains '{}'; only letters, digits, '-' and '.' are allowed",
                                   printable(std::string_view(&c, 1)));
        if (dot == std::string_view::npos) return std::nullopt;
        rest.remove_prefix(dot + 1);
    }
}

} // namespace ctr::config
