#include "ctr/spawn/plan.hpp"

#include <algorithm>
#include <sstream>
#include <sys/stat.h>

#include "ctr/core/error.hpp"

namespace ctr::spawn {

namespace {
constexpr const char* default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

void set_var(std::vector<std::string>& env, const std::string& kv) {
    auto key = kv.substr(0, kv.find('=') + 1);
    auto it = std::find_if(env.begin(), env.end(), [&](auto& e) { return e.starts_with(key); });
    if (it != env.end())
        *it = kv;
    else
        env.push_back(kv);
}

// Overlay options are comma-separated and lower dirs colon-separated; refuse rather than escape.
std::string overlay_path(const std::filesystem::path& p) {
    std::string s = p.string();
    if (s.find_first_of(",:\\") != std::string::npos)
        fail("path \"{}\" cannot be used in an overlay (it contains ',', ':' or '\\')", s);
    return s;
}

std::vector<std::string> search(const std::string& name, const std::vector<std::string>& env) {
    if (name.find('/') != std::string::npos) return {name};
    std::string path = default_path;
    for (auto& e : env)
        if (e.starts_with("PATH=")) path = e.substr(5);
    std::vector<std::string> out;
    std::istringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':'))
        out.push_back((dir.empty() ? "." : dir) + "/" + name);
    if (out.empty()) out.push_back(name);
    return out;
}

// The `mounts` entries, checked again now: the host path may have changed since the config was
// read. Strings go into storage first; pointers are taken once it no longer grows.
void plan_mounts(plan& p, const std::vector<config::bind_mount>& mounts) {
    struct placed {
        std::size_t source, target, first_part, parts;
        bool is_dir, readonly;
    };
    std::vector<placed> placed_mounts;
    for (const auto& m : mounts) {
        struct stat st {};
        if (::stat(m.source.c_str(), &st) != 0)
            throw_errno("mounts: \"{}\" for \"{}\" in container {}", m.source.string(), m.target,
                        p.name);
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
            fail("mounts: \"{}\" is neither a folder nor a regular file", m.source.string());
        placed at{p.mount_storage.size(),
                  p.mount_storage.size() + 1,
                  0,
                  0,
                  S_ISDIR(st.st_mode),
                  m.readonly};
        p.mount_storage.push_back(m.source.string());
        p.mount_storage.push_back(m.target);
        at.first_part = p.mount_storage.size();
        std::istringstream parts(m.target);
        for (std::string part; std::getline(parts, part, '/');)
            if (!part.empty()) p.mount_storage.push_back(part);
        at.parts = p.mount_storage.size() - at.first_part;
        if (at.parts == 0) fail("mounts: cannot bind over the root of container {}", p.name);
        placed_mounts.push_back(at);
    }
    for (const auto& s : p.mount_storage)
        p.mount_parts.push_back(s.c_str());
    for (const auto& at : placed_mounts)
        p.mounts.push_back({p.mount_parts[at.source], p.mount_parts[at.target], at.first_part,
                            at.parts, at.is_dir, at.readonly});
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
    std::vector<char*> out;
    for (auto& s : v)
        out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}
} // namespace

std::vector<std::string> container_env(const config::container& c) {
    std::vector<std::string> env{std::string("PATH=") + default_path, "HOSTNAME=" + c.hostname,
                                 "HOME=/root", "container=ctr-supervisor"};
    if (c.tty) env.push_back("TERM=xterm");
    for (auto& kv : c.env)
        set_var(env, kv);
    return env;
}

plan make_plan(const config::container& c, const overlay_paths& paths,
               const std::filesystem::path& hosts_file) {
    if (c.command.empty()) fail("container {} has no command", c.name);
    plan p;
    p.name = c.name;
    p.hostname = c.hostname.empty() ? c.name : c.hostname;
    p.image = c.rootfs.string();
    p.merged = paths.merged().string();
    p.overlay_options = fmt::format("lowerdir={},upperdir={},workdir={}", overlay_path(c.rootfs),
                                    overlay_path(paths.upper()), overlay_path(paths.work()));
    p.workdir = c.workdir.empty() ? "/" : c.workdir;
    p.argv_storage = c.command;
    p.env_storage = container_env(c);
    p.candidate_storage = search(c.command.front(), p.env_storage);
    p.argv = c_strings(p.argv_storage);
    p.envp = c_strings(p.env_storage);
    for (auto& s : p.candidate_storage)
        p.candidates.push_back(s.c_str());
    if (!hosts_file.empty()) {
        p.bind_storage = {hosts_file.string(), "etc", "hosts"};
        p.binds.push_back(
            {p.bind_storage[0].c_str(), p.bind_storage[1].c_str(), p.bind_storage[2].c_str()});
    }

    const auto& iso = c.isolation;
    p.last_capability = last_capability();
    // A capability the kernel does not know, or the supervisor does not hold, cannot be granted.
    p.capabilities = capability_set(iso.cap_add, iso.cap_drop) & held_capabilities();
    if (p.last_capability < 63) p.capabilities &= (std::uint64_t{1} << (p.last_capability + 1)) - 1;
    if (iso.seccomp) p.seccomp = seccomp_programs(p.capabilities);
    p.readonly_rootfs = iso.readonly_rootfs;
    if (iso.nofile)
        p.nofile =
            rlimit{static_cast<rlim_t>(iso.nofile->soft), static_cast<rlim_t>(iso.nofile->hard)};
    plan_mounts(p, iso.mounts);
    if (c.userns) {
        p.userns.enabled = true;
        p.userns.base = c.userns->base;
        p.userns.size = c.userns->size;
        p.userns.dir = paths.dir.string();
        // Relative to the container's folder, the child's working directory by then: the mapped
        // root may search that folder but none above it.
        // trusted.* xattrs need the host's CAP_SYS_ADMIN: without userxattr the overlay can mark
        // no folder opaque, and removing a folder of the image fails.
        p.overlay_options = "lowerdir=lower,upperdir=upper,workdir=work,userxattr";
        p.ping_range = fmt::format("0 {}", c.userns->size - 1);
    }
    return p;
}

} // namespace ctr::spawn
