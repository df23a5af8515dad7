#include "tty_bench/supervisor_run.hpp"

#include "common/spawn_supervisor.hpp"
#include "net_bench/host.hpp"
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <signal.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "ctr/control/client.hpp"
#include "ctr/core/error.hpp"

namespace ctr::bench {

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string replace_all(std::string text, std::string_view what, std::string_view with) {
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + with.size()))
        text.replace(at, what.size(), with);
    return text;
}

std::string config_text(const fs::path& socket, const fs::path& state,
                        const std::string& log_max_size, const run_settings& s) {
    // A container whose PID 1 has no SIGTERM handler ignores it (`sleep`, `yes`): a short
    // stop_timeout keeps each run's shutdown to about a second.
    std::string text = fmt::format("[supervisor]\nsocket = {}\nstate_dir = {}\nstop_timeout = 1s\n",
                                   socket.string(), state.string());
    if (!log_max_size.empty()) text += fmt::format("log_max_size = {}\n", log_max_size);
    return text + "\n" + replace_all(s.containers, "@ROOTFS@", s.rootfs.string());
}

bool file_mentions(const fs::path& file, std::string_view what) {
    std::ifstream in(file);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return all.find(what) != std::string::npos;
}

long long number_after(const std::string& text, std::string_view key) {
    auto at = text.find(key);
    if (at == std::string::npos) return 0;
    return std::stoll(text.substr(at + key.size()));
}

} // namespace

double ticks_to_seconds(long long ticks) {
    return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

supervisor_run::supervisor_run(const run_settings& s) : tag_(s.tag) {
    dir_ = make_temp_dir(s.parent_dir, "ctr-tty-bench");
    socket_ = dir_ / "ctr.sock";
    state_ = dir_ / "state";
    log_ = dir_ / "supervisor.log";
    fs::path config = dir_ / "bench.ini";

    // From here on a failure removes the folder, and whatever the supervisor made, before it
    // leaves: the destructor does not run for a constructor that throws.
    try {
        unique_fd log_fd(::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
        if (!log_fd) throw_errno("open({})", log_.string());
        auto check = [&](const std::string& max_size) {
            std::ofstream(config) << config_text(socket_, state_, max_size, s);
            return run_command({s.supervisor.string(), "--config", config.string(), "--check"},
                               log_fd.get()) == 0;
        };
        if (!check(s.log_max_size)) {
            // log_max_size arrives with the terminal config keys; a build without them still has a
            // bounded log (its built-in size and file count).
            if (s.log_max_size.empty() || !file_mentions(log_, "log_max_size") || !check(""))
                fail("ctr-supervisor --check refused the config: {}", tail_of(log_, 3));
            log_limit_applied_ = false;
        }

        auto child = spawn_supervisor({s.supervisor.string(), "--config", config.string()},
                                      log_fd.get(), program_lookup::as_given);
        pid_ = child.pid;
        pidfd_ = std::move(child.pidfd);
        auto deadline = steady::now() + 15s;
        for (;;) {
            throw_if_interrupted();
            pollfd p{pidfd_.get(), POLLIN, 0};
            if (::poll(&p, 1, 0) == 1) fail("ctr-supervisor exited before its socket answered");
            try {
                control::client c(socket_);
                break;
            } catch (const ctr::error&) {
            }
            if (steady::now() > deadline) fail("its control socket did not answer within 15 s");
            std::this_thread::sleep_for(1ms);
        }
    } catch (...) {
        kill_and_reap();
        remove_leftovers();
        throw;
    }
}

supervisor_run::~supervisor_run() {
    kill_and_reap();
    remove_leftovers();
}

json supervisor_run::call(const json& request) const {
    return control::client(socket_).call(request);
}

void supervisor_run::wait_all_running(std::chrono::seconds limit) {
    auto deadline = steady::now() + limit;
    for (;;) {
        throw_if_interrupted();
        try {
            call({{"op", "wait"},
                  {"names", json::array()},
                  {"state", "running"},
                  {"timeout_ms", 1000}});
            break;
        } catch (const ctr::error&) {
        }
        // Named: a range-for over a member of the temporary would outlive the temporary.
        auto ps = call({{"op", "ps"}});
        for (auto& c : ps["containers"]) {
            auto state = c.value("state", "");
            if (state == "failed" || state == "exited")
                fail("{} is {}: {}", c.value("name", "?"), state,
                     c["error"].is_string() ? c["error"].get<std::string>() : "no error given");
        }
        if (steady::now() > deadline)
            fail("not every container was running after {} s", limit.count());
    }
    auto ps = call({{"op", "ps"}});
    for (auto& c : ps["containers"])
        if (c["pid"].is_number()) pid_namespaces_.insert(pid_ns_of(c["pid"].get<pid_t>()));
    pid_namespaces_.erase("");
}

process_counters supervisor_run::counters() const {
    process_counters out;
    std::error_code ec;
    for (auto& task :
         fs::directory_iterator(fs::path("/proc") / std::to_string(pid_) / "task", ec)) {
        std::ifstream status(task.path() / "status");
        std::string text((std::istreambuf_iterator<char>(status)),
                         std::istreambuf_iterator<char>());
        out.voluntary += number_after(text, "\nvoluntary_ctxt_switches:");
        out.involuntary += number_after(text, "\nnonvoluntary_ctxt_switches:");
        // /proc/PID/task/TID/stat: fields 14 and 15 after the ")" that ends the command name.
        std::ifstream stat(task.path() / "stat");
        std::string line;
        std::getline(stat, line);
        auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream fields(line.substr(close + 2));
        std::string f;
        for (int i = 3; i <= 15 && fields >> f; ++i)
            if (i == 14 || i == 15) out.cpu_ticks += std::stoll(f);
    }
    return out;
}

std::uintmax_t supervisor_run::log_bytes(const std::string& container) const {
    std::uintmax_t total = 0;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(state_ / "logs", ec))
        if (e.path().filename().string().starts_with(container + ".log")) total += e.file_size(ec);
    return total;
}

void supervisor_run::stop() {
    if (reaped_) return;
    ::kill(pid_, SIGTERM);
    pollfd p{pidfd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 60'000) != 1) fail("ctr-supervisor did not exit within 60 s of SIGTERM");
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("ctr-supervisor ended with {} after SIGTERM",
             WIFEXITED(status) ? fmt::format("exit code {}", WEXITSTATUS(status))
                               : fmt::format("signal {}", WTERMSIG(status)));
}

std::string supervisor_run::log_tail() const {
    return tail_of(log_, 10);
}

void supervisor_run::kill_and_reap() {
    if (reaped_ || pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    pollfd p{pidfd_.get(), POLLIN, 0};
    if (!pidfd_ || ::poll(&p, 1, 30'000) != 1) ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    reaped_ = true;
}

void supervisor_run::remove_leftovers() {
    // Only what carries this run's marks: its containers' pid namespaces, its tag, its folder.
    kill_processes(processes_in(pid_namespaces_));
    remove_cgroups(cgroups_named(tag_));
    remove_dir(dir_);
}

} // namespace ctr::bench
