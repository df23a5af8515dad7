#include "ctr/config/ini.hpp"

#include "text.hpp"

#include <fmt/format.h>

namespace ctr::config::ini {
namespace {

struct reader {
    document doc;
    // After a malformed header the lines below belong to no section we know; reporting each of
    // them as "outside any section" would bury the one real mistake.
    bool in_broken_section = false;

    void problem(int line, std::string message) {
        doc.problems.push_back({line, std::move(message)});
    }

    void header(std::string_view s, int line) {
        in_broken_section = true;
        auto close = s.find(']');
        if (close == std::string_view::npos) return problem(line, "unterminated section header");
        if (!trim(s.substr(close + 1)).empty())
            return problem(line, "unexpected text after ']' in section header");
        auto inside = trim(s.substr(1, close - 1));
        if (inside.empty()) return problem(line, "empty section header");
        auto space = inside.find_first_of(" \t\v\f");
        auto kind = inside.substr(0, space);
        auto name =
            space == std::string_view::npos ? std::string_view{} : trim(inside.substr(space));
        doc.sections.push_back({std::string(kind), std::string(name), line, {}});
        in_broken_section = false;
    }

    void assignment(std::string_view s, int line) {
        auto eq = s.find('=');
        if (eq == std::string_view::npos)
            return problem(line, "expected 'key = value' or '[section]'");
        auto key = trim(s.substr(0, eq));
        if (key.empty()) return problem(line, "empty key before '='");
        if (doc.sections.empty() || in_broken_section) {
            if (!in_broken_section)
                problem(line, fmt::format("key '{}' outside any section", printable(key)));
            return;
        }
        doc.sections.back().entries.push_back(
            {std::string(key), std::string(trim(s.substr(eq + 1))), line});
    }

    void line(std::string_view raw, int number) {
        auto s = trim(raw);
        if (s.empty() || s.front() == '#' || s.front() == ';') return;
        if (s.front() == '[') return header(s, number);
        assignment(s, number);
    }
};

} // namespace

document read(std::string_view text) {
    constexpr std::string_view bom = "\xef\xbb\xbf";
    if (text.substr(0, bom.size()) == bom) text.remove_prefix(bom.size());

    reader r;
    int number = 0;
    while (!text.empty()) {
        auto end = text.find('\n');
        r.line(text.substr(0, end), ++number);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    }
    return std::move(r.doc);
}

} // namespace ctr::config::ini
