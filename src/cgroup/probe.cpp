#include "ctr/cgroup/probe.hpp"

#include <algorithm>
#include <charconv>

#include "ctr/cgroup/files.hpp"

namespace ctr::cgroup {

namespace fs = std::filesystem;

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    for (std::size_t start = 0;;) {
        auto end = s.find(sep, start);
        out.push_back(s.substr(start, end - start));
        if (end == std::string_view::npos) return out;
        start = end + 1;
    }
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            auto oct = s.substr(i + 1, 3);
            if (oct.find_first_not_of("01234567") == std::string_view::npos) {
                out += static_cast<char>((oct[0] - '0') * 64 + (oct[1] - '0') * 8 + (oct[2] - '0'));
                i += 3;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

bool is_wanted(std::string_view c) {
    return std::find(wanted.begin(), wanted.end(), c) != wanted.end();
}

} // namespace

const char* to_string(version v) {
    return v == version::v2 ? "v2" : "v1";
}

std::vector<mount> parse_mountinfo(std::string_view text) {
    std::vector<mount> out;
    for (auto line : split(text, '\n')) {
        auto fields = split(line, ' ');
        auto dash = std::find(fields.begin(), fields.end(), "-");
        if (dash == fields.end() || dash - fields.begin() < 6 || fields.end() - dash < 4) continue;
        std::string_view type = dash[1];
        if (type != "cgroup" && type != "cgroup2") continue;
        mount m;
        m.root = unescape(fields[3]);
        m.point = unescape(fields[4]);
        m.v2 = type == "cgroup2";
        if (!m.v2)
            for (auto opt : split(dash[3], ','))
                if (is_wanted(opt)) m.controllers.emplace_back(opt);
        out.push_back(std::move(m));
    }
    return out;
}

bool hierarchy::has(std::string_view controller) const {
    return std::find(controllers.begin(), controllers.end(), controller) != controllers.end();
}

const hierarchy* layout::find(std::string_view controller) const {
    for (const auto& h : hierarchies)
        if (h.has(controller)) return &h;
    return nullptr;
}

layout choose(const std::vector<mount>& mounts) {
    layout v1, v2;
    v2.ver = version::v2;
    for (const auto& m : mounts) {
        if (m.v2) {
            if (!v2.hierarchies.empty()) continue; // one cgroup2 hierarchy, maybe mounted twice
            hierarchy h{m.point, m.root, {}};
            for (const auto& c : m.controllers)
                if (is_wanted(c)) h.controllers.push_back(c);
            v2.hierarchies.push_back(std::move(h));
            continue;
        }
        if (m.controllers.empty()) continue;
        // A second mount of a hierarchy shows the same controllers: the first one serves.
        if (std::any_of(v1.hierarchies.begin(), v1.hierarchies.end(),
                        [&](const hierarchy& h) { return h.controllers == m.controllers; }))
            continue;
        v1.hierarchies.push_back({m.point, m.root, m.controllers});
    }
    bool v1_holds_essential = v1.find("memory") || v1.find("pids") || v1.find("cpu");
    bool v2_offers_any = !v2.hierarchies.empty() && !v2.hierarchies.front().controllers.empty();
    if (!v1_holds_essential && v2_offers_any) return v2;
    return v1;
}

layout probe(std::string_view mountinfo) {
    auto mounts = parse_mountinfo(mountinfo);
    for (auto& m : mounts) {
        if (!m.v2) continue;
        auto text = try_read_knob(m.point / "cgroup.controllers");
        if (!text) continue;
        for (auto c : split(*text, ' ')) {
            while (!c.empty() && (c.back() == '\n' || c.back() == ' '))
                c.remove_suffix(1);
            if (!c.empty()) m.controllers.emplace_back(c);
        }
    }
    return choose(mounts);
}

layout probe_host() {
    return probe(read_knob("/proc/self/mountinfo"));
}

std::vector<membership> parse_proc_cgroup(std::string_view text) {
    std::vector<membership> out;
    for (auto line : split(text, '\n')) {
        auto first = line.find(':');
        auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
        if (second == std::string_view::npos) continue;
        membership m;
        auto id = line.substr(0, first);
        auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), m.id);
        if (ec != std::errc{} || end != id.data() + id.size()) continue;
        auto list = line.substr(first + 1, second - first - 1);
        if (!list.empty())
            for (auto c : split(list, ','))
                m.controllers.emplace_back(c);
        m.path = std::string(line.substr(second + 1));
        out.push_back(std::move(m));
    }
    return out;
}

} // namespace ctr::cgroup
