#include "ctr/spawn/plan.hpp"

#include <algorithm>
#include <sstream>
#include <sys/stat.h>

#include "ctr/core/error.hpp"
#include "ctr/spawn/init_image.hpp"

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

namespace {
void set_command(plan& p, const std::vector<std::string>& argv, std::vector<std::string> env,
                 const std::string& workdir);
void set_privileges(plan& p, const config::container& c);
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
    // volatile: no sync of the upper file system when the overlay goes, which with the state dir
    // on disk was a syncfs of that whole file system at every container's exit. The upper dir
    // outlives a container's restarts, but not a crash of the machine: state_dir::recover()
    // removes every container's files on the next start anyway, so the durability volatile gives
    // up was never used. The kernel then refuses a second mount until work/work/incompat/volatile
    // is removed (volatile_marker()); the spawner does that before each start.
    p.overlay_options =
        fmt::format("lowerdir={},upperdir={},workdir={},volatile", overlay_path(c.rootfs),
                    overlay_path(paths.upper()), overlay_path(paths.work()));
    set_command(p, c.command, container_env(c), c.workdir);
    if (!hosts_file.empty()) {
        p.bind_storage = {hosts_file.string(), "etc", "hosts"};
        p.binds.push_back(
            {p.bind_storage[0].c_str(), p.bind_storage[1].c_str(), p.bind_storage[2].c_str()});
    }

    set_privileges(p, c);
    plan_mounts(p, c.isolation.mounts);
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

plan make_exec_plan(const config::container& c, const std::vector<std::string>& argv,
                    const std::vector<std::string>& env, const std::string& workdir, bool tty) {
    if (argv.empty() || argv.front().empty()) fail("exec needs a command");
    plan p;
    p.name = c.name;
    auto vars = container_env(c);
    if (tty && !c.tty) vars.push_back("TERM=xterm");
    for (auto& kv : env) {
        if (kv.find('=') == std::string::npos || kv.front() == '=')
            fail("exec: environment entry \"{}\" is not K=V", kv);
        set_var(vars, kv);
    }
    set_command(p, argv, std::move(vars), workdir.empty() ? c.workdir : workdir);
    set_privileges(p, c);
    return p;
}

namespace {
void set_command(plan& p, const std::vector<std::string>& argv, std::vector<std::string> env,
                 const std::string& workdir) {
    p.workdir = workdir.empty() ? "/" : workdir;
    p.argv_storage = argv;
    p.env_storage = std::move(env);
    p.candidate_storage = search(argv.front(), p.env_storage);
    p.argv = c_strings(p.argv_storage);
    p.envp = c_strings(p.env_storage);
    for (auto& s : p.candidate_storage)
        p.candidates.push_back(s.c_str());
}

void set_privileges(plan& p, const config::container& c) {
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
}
} // namespace

void use_init(plan& p, int image_fd) {
    p.init_image = image_fd;
    p.init_argv_storage = {"ctr-init", std::to_string(init_report_fd), "--"};
    p.init_argv_storage.insert(p.init_argv_storage.end(), p.argv_storage.begin(),
                               p.argv_storage.end());
    p.init_argv = c_strings(p.init_argv_storage);
}

} // namespace ctr::spawn
