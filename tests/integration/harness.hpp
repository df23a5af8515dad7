// Runs a real ctr-supervisor on a config of the test's own, in a folder of its own under /tmp,
// and drives it with the real ctrctl. The destructor stops it and removes everything, also when
// the test failed half-way.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <signal.h>
#include <string>
#include <sys/types.h>
#include <vector>

#include <nlohmann/json.hpp>

namespace ctr::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path build_dir();
fs::path busybox_rootfs();
bool is_root();
// The reason a root test cannot run here, or nothing.
std::optional<std::string> root_test_blocker();

struct run_result {
    int code = -1;
    std::string out, err;
};
// Runs argv to completion (killed after `limit`), capturing stdout and stderr.
run_result run(const std::vector<std::string>& argv, std::chrono::milliseconds limit = 60s);
// The same with `input` as its stdin, a pipe closed after it (nothing: /dev/null).
run_result run_with_input(const std::vector<std::string>& argv,
                          const std::optional<std::string>& input,
                          std::chrono::milliseconds limit = 60s);

class lab {
  public:
    // `containers` is INI text; @ROOTFS@ stands for the busybox image. `supervisor` adds lines
    // to the generated [supervisor] section.
    explicit lab(const std::string& containers, const std::string& supervisor = "");
    ~lab();
    lab(const lab&) = delete;
    lab& operator=(const lab&) = delete;

    // Starts ctr-supervisor and waits until its socket answers; false if it exited instead.
    bool start(const std::vector<std::string>& extra_args = {});
    // Signals the supervisor and waits for it; its exit code (or 128+signal).
    int stop(int sig = SIGTERM, std::chrono::milliseconds limit = 30s);
    bool running() const { return pidfd_ >= 0; }

    // Replaces the config file as the constructor wrote it, for a reload to read.
    void rewrite(const std::string& containers, const std::string& supervisor = "");
    run_result reload(); // ctrctl reload

    run_result ctl(std::vector<std::string> args, std::chrono::milliseconds limit = 60s);
    run_result ctl_input(std::vector<std::string> args, const std::optional<std::string>& input,
                         std::chrono::milliseconds limit = 60s);
    nlohmann::json ps();
    nlohmann::json status(const std::string& name); // null when no such container
    bool wait_state(const std::string& state, const std::vector<std::string>& names,
                    std::chrono::milliseconds limit = 20s);

    std::string log() const;                 // the supervisor's stderr
    fs::path dir, config, socket, state_dir; // socket: where start() waits for it to answer
    fs::path binary;                         // the ctr-supervisor start() runs; "" for build's
    fs::path upper(const std::string& name) const;
    pid_t pid() const { return pid_; }

  private:
    pid_t pid_ = -1;
    int pidfd_ = -1;
};

// Process ids whose pid namespace is `ns` (a /proc/PID/ns/pid link text): what a container left.
std::vector<pid_t> processes_in_pid_ns(const std::string& ns);
std::string ns_of(pid_t pid, const char* kind); // readlink /proc/PID/ns/KIND, "" when gone
std::string read_text(const fs::path& file);    // "" when missing
// Waits until `file` exists and holds `lines` lines at least (a container writing its answers).
std::string wait_for_file(const fs::path& file, int lines = 1,
                          std::chrono::milliseconds limit = 10s);
// Host mounts whose mount point or source mentions `needle`.
std::vector<std::string> host_mounts_mentioning(const std::string& needle);

} // namespace ctr::test

// Every root test starts with this: it says why it cannot run instead of failing.
#define CTR_REQUIRE_ROOT()                                                                         \
    do {                                                                                           \
        if (auto why = ::ctr::test::root_test_blocker()) {                                         \
            MESSAGE("skipped: " << *why);                                                          \
            return;                                                                                \
        }                                                                                          \
    } while (0)

namespace ctr::test {

// A bridge name and /24 subnet no other test run uses, for networks a test makes on its own.
struct test_network {
    std::string bridge; // "ctrt" + pid + counter, at most 15 characters
    std::string subnet; // "10.N.M.0/24" from the 10.200/13 range, not seen on this host
    std::string prefix; // "10.N.M." to build addresses
    std::string ini(const std::string& name, const std::string& extra = "") const;
};
test_network unique_network();
// `ip -o link` lines that mention `needle` (tests may use ip(8); the supervisor never does).
std::vector<std::string> links_mentioning(const std::string& needle);

} // namespace ctr::test
