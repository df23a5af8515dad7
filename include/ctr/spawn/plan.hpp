// Everything a container's first process needs between clone3 and execve, computed by the parent
// beforehand so the child allocates nothing and only reads C strings.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ctr/config/config.hpp"

namespace ctr::spawn {

// Where one container's overlay lives under the supervisor's state dir.
struct overlay_paths {
    std::filesystem::path dir; // state_dir/containers/NAME
    std::filesystem::path upper() const { return dir / "upper"; }
    std::filesystem::path work() const { return dir / "work"; }
    std::filesystem::path merged() const { return dir / "merged"; }
};

// A supervisor-owned file bound over one in the container (/etc/hosts). C strings point into
// the plan's storage.
struct bind_spec {
    const char* source; // host path
    const char* parent; // inside the root, e.g. "etc"
    const char* leaf;   // e.g. "hosts"
};

// Move-only: argv, envp and candidates point into the storage vectors.
struct plan {
    plan() = default;
    plan(plan&&) = default;
    plan& operator=(plan&&) = default;
    plan(const plan&) = delete;
    plan& operator=(const plan&) = delete;

    std::string name;
    std::string hostname;
    std::string image;           // the shared read-only image (overlay lower dir)
    std::string merged;          // where the child mounts its overlay, in its own mount namespace
    std::string overlay_options; // lowerdir=...,upperdir=...,workdir=...
    std::string workdir;         // inside the container
    std::vector<std::string> argv_storage, env_storage, candidate_storage;
    std::vector<char*> argv, envp;       // null-terminated views of the storage
    std::vector<const char*> candidates; // argv[0] resolved against PATH, in search order
    std::vector<std::string> bind_storage;
    std::vector<bind_spec> binds;
};

// The environment a container gets: PATH, HOSTNAME, HOME, container=ctr-supervisor, then the
// configured env (a later K=V replaces an earlier K).
std::vector<std::string> container_env(const config::container& c);

// Builds the plan; throws ctr::error when a path cannot be expressed as an overlay option.
// `hosts_file`, when not empty, is bound over the container's /etc/hosts.
plan make_plan(const config::container& c, const overlay_paths& paths,
               const std::filesystem::path& hosts_file = {});

} // namespace ctr::spawn
