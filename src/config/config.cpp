#include "ctr/config/config.hpp"

#include "keys.hpp"
#include "networks.hpp"
#include "text.hpp"
#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ctr/config/ini.hpp"

namespace ctr::config {
namespace {

// Each one gets a process, cgroup and PTY; far more than a host can run, but it keeps a hostile or
// mistyped file (replicas = 1000 in many sections) from exhausting memory while it is read.
constexpr std::size_t max_containers = 10'000;

struct container_spec {
    const ini::section* section;
    int replicas_line; // where replica names come from, for clash messages
    container_draft draft;
    key_lines keys; // where each key stood, for the network checks
};

std::string label_of(const ini::section& s) {
    if (s.name.empty()) return fmt::format("[{}]", printable(s.kind));
    return fmt::format("[{} {}]", printable(s.kind), printable(s.name));
}

std::filesystem::path base_dir_of(const std::filesystem::path& file) {
    std::error_code ec;
    auto abs = std::filesystem::absolute(file.empty() ? "." : file, ec);
    return ec ? file.parent_path() : abs.lexically_normal().parent_path();
}

container make_container(std::string name, const container_spec& spec, const supervisor& sup) {
    const auto& d = spec.draft;
    container c;
    c.hostname = d.hostname.value_or(name);
    c.name = std::move(name);
    c.line = spec.section->line;
    c.rootfs = d.rootfs;
    c.command = d.command;
    c.env = d.env;
    c.workdir = d.workdir;
    c.tty = d.tty;
    c.stdin_open = d.stdin_open;
    c.init = d.init;
    c.restart = d.restart;
    c.stop_timeout = d.stop_timeout.value_or(sup.stop_timeout);
    if (d.network) {
        c.network = *d.network;
        c.ip = d.ip.value_or("auto");
    }
    c.limits = d.limits;
    c.isolation = d.isolation;
    if (d.userns) c.userns = sup.userns;
    return c;
}

class reader {
  public:
    reader(const std::filesystem::path& file, bool check_paths)
        : ctx_{base_dir_of(file), check_paths} {
        cfg_.file = file;
    }

    void read(const ini::document& doc) {
        problems_ = doc.problems;
        for (const auto& s : doc.sections) {
            if (s.kind == "supervisor")
                read_supervisor(s);
            else if (s.kind == "container")
                read_container(s);
            else if (s.kind == "network" && !s.name.empty())
                read_network(s);
            else
                problem(s.line, "unknown section {}", label_of(s));
        }
        // Only now is [supervisor] known, wherever it stood in the file.
        if (cfg_.sup.log_dir.empty()) cfg_.sup.log_dir = cfg_.sup.state_dir / "logs";
        expand();
        // Only now is every [network] known, wherever it stood: a container may name a later one.
        networks_.check_clashes(problems_);
        for (const auto& spec : specs_)
            networks_.check_container(label_of(*spec.section), spec.draft, spec.keys, problems_);
        cfg_.networks = networks_.networks();
    }

    config finish() {
        if (problems_.empty()) return std::move(cfg_);
        std::stable_sort(problems_.begin(), problems_.end(),
                         [](const auto& a, const auto& b) { return a.line < b.line; });
        std::vector<std::string> lines;
        lines.reserve(problems_.size());
        for (const auto& p : problems_)
            lines.push_back(fmt::format("{}:{}: {}", cfg_.file.string(), p.line, p.message));
        throw config_error(std::move(lines));
    }

  private:
    template <typename... Args>
    void problem(int line, fmt::format_string<Args...> f, Args&&... args) {
        problems_.push_back({line, fmt::format(f, std::forward<Args>(args)...)});
    }

    void read_supervisor(const ini::section& s) {
        if (!s.name.empty()) problem(s.line, "section [supervisor] takes no name");
        supervisor ignored;
        supervisor* target = &cfg_.sup;
        if (supervisor_line_) {
            problem(s.line, "duplicate section [supervisor] (first at line {})", *supervisor_line_);
            target = &ignored;
        }
        supervisor_line_ = s.line;
        auto before = problems_.size();
        auto keys = apply_keys(s, label_of(s), target, ctx_, problems_);
        if (problems_.size() == before) check_userns_range(*target, keys, label_of(s));
    }

    // Each of userns_base and userns_size is fine alone; together they must stay below the
    // invalid id. The message goes to the later of the two lines.
    void check_userns_range(const supervisor& sup, const key_lines& keys, std::string_view label) {
        auto last = std::uint64_t{sup.userns.base} + sup.userns.size - 1;
        if (last <= max_host_id) return;
        auto base = keys.find("userns_base"), size = keys.find("userns_size");
        int line =
            std::max(base == keys.end() ? 0 : base->second, size == keys.end() ? 0 : size->second);
        auto key = size != keys.end() && size->second == line ? "userns_size" : "userns_base";
        problem(line, "bad {} in {}: userns_base {} + userns_size {} ends at host id {}, past {}",
                key, label, sup.userns.base, sup.userns.size, last, max_host_id);
    }

    void read_container(const ini::section& s) {
        container_draft d;
        auto keys = apply_keys(s, label_of(s), &d, ctx_, problems_);
        if (s.name.empty()) return problem(s.line, "section [container] needs a name");
        if (auto why = invalid_name_reason(s.name))
            return problem(s.line, "invalid container name '{}': {}", printable(s.name), *why);
        auto [first, inserted] = container_lines_.try_emplace(s.name, s.line);
        if (!inserted)
            return problem(s.line, "duplicate section [container {}] (first at line {})", s.name,
                           first->second);
        auto replicas = keys.find("replicas");
        specs_.push_back({&s, replicas == keys.end() ? s.line : replicas->second, std::move(d),
                          std::move(keys)});
    }

    // A bare [network] is not read as a nameless network: it falls through to "unknown section",
    // since only [network NAME] is a section kind (read() sends it here only with a name).
    void read_network(const ini::section& s) {
        network n;
        n.name = s.name;
        n.line = s.line;
        auto before = problems_.size();
        auto keys = apply_keys(s, label_of(s), &n, ctx_, problems_);
        bool usable = problems_.size() == before;
        if (auto why = invalid_name_reason(s.name))
            return problem(s.line, "invalid network name '{}': {}", printable(s.name), *why);
        auto [first, inserted] = network_lines_.try_emplace(s.name, s.line);
        if (!inserted)
            return problem(s.line, "duplicate section [network {}] (first at line {})", s.name,
                           first->second);
        networks_.add(std::move(n), keys, usable, problems_);
    }

    // Where a container's name came from, so a clash can name both sides.
    struct origin {
        const container_spec* spec;
        bool replica;
        int line() const { return replica ? spec->replicas_line : spec->section->line; }
        std::string describe(std::string_view name) const {
            if (!replica) return fmt::format("[container {}]", name);
            return fmt::format("replica '{}' of [container {}]", name, spec->section->name);
        }
    };

    void expand() {
        std::map<std::string, origin, std::less<>> taken;
        for (const auto& spec : specs_) {
            const auto& base = spec.section->name;
            std::vector<std::string> names;
            if (auto n = spec.draft.replicas) {
                // The longest name is the last; if it fits, all do.
                if (auto why = invalid_name_reason(fmt::format("{}-{}", base, *n))) {
                    problem(spec.replicas_line, "replica names of [container {}] are invalid: {}",
                            base, *why);
                    continue;
                }
                for (int i = 1; i <= *n; ++i)
                    names.push_back(fmt::format("{}-{}", base, i));
            } else {
                names.push_back(base);
            }
            if (cfg_.containers.size() + names.size() > max_containers)
                return problem(spec.section->line, "too many containers: at most {} in one file",
                               max_containers);

            origin here{&spec, spec.draft.replicas.has_value()};
            for (auto& name : names) {
                auto [other, inserted] = taken.try_emplace(name, here);
                if (!inserted) {
                    problem(here.line(), "{} clashes with {} (line {})", here.describe(name),
                            other->second.describe(name), other->second.line());
                    continue;
                }
                cfg_.containers.push_back(make_container(std::move(name), spec, cfg_.sup));
            }
        }
    }

    value_context ctx_;
    config cfg_;
    std::vector<ini::problem> problems_;
    std::optional<int> supervisor_line_;
    std::map<std::string, int, std::less<>> container_lines_;
    std::vector<container_spec> specs_;
    std::map<std::string, int, std::less<>> network_lines_;
    network_checker networks_;
};

} // namespace

const char* to_string(restart_policy p) {
    switch (p) {
    case restart_policy::no:
        return "no";
    case restart_policy::on_failure:
        return "on-failure";
    case restart_policy::always:
        return "always";
    }
    return "?";
}

config_error::config_error(std::vector<std::string> problems)
    : std::runtime_error(fmt::format("{}", fmt::join(problems, "\n"))),
      problems_(std::move(problems)) {}

config parse(std::string_view text, const std::filesystem::path& file, bool check_paths) {
    // The reader keeps pointers into the document until finish().
    auto doc = ini::read(text);
    reader r(file, check_paths);
    r.read(doc);
    return r.finish();
}

} // namespace ctr::config
