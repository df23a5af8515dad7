#include "harness.hpp"

#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <signal.h>
#include <sstream>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

namespace ctr::test {

fs::path build_dir() {
    return CTR_BUILD_DIR;
}
fs::path busybox_rootfs() {
    return fs::path(CTR_SOURCE_DIR) / "assets/rootfs/busybox";
}
bool is_root() {
    return ::geteuid() == 0;
}

std::optional<std::string> root_test_blocker() {
    if (!is_root()) return "needs root (namespaces, mounts, pivot_root)";
    if (!fs::exists(busybox_rootfs() / "bin/busybox"))
        return "no busybox rootfs: run tools/ctr-rootfs busybox assets/rootfs/busybox";
    return std::nullopt;
}

namespace {
int pidfd_open(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

// Waits for the process behind pidfd to exit (it must be our child) and returns its wait status.
std::optional<int> wait_pidfd(int pidfd, pid_t pid, std::chrono::milliseconds limit) {
    pollfd p{pidfd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return std::nullopt;
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

int exit_code(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string drain(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0)
        out.append(buf, static_cast<std::size_t>(n));
    return out;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
        s.replace(pos, from.size(), to);
    return s;
}
} // namespace

run_result run(const std::vector<std::string>& argv, std::chrono::milliseconds limit) {
    return run_with_input(argv, std::nullopt, limit);
}

run_result run_with_input(const std::vector<std::string>& argv,
                          const std::optional<std::string>& input,
                          std::chrono::milliseconds limit) {
    // The input waits in a pipe (it must fit in one: tests send a few lines), closed behind it.
    int in[2] = {-1, -1};
    if (input) {
        if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        if (::write(in[1], input->data(), input->size()) != static_cast<ssize_t>(input->size()))
            throw std::runtime_error("test input does not fit in a pipe");
        ::close(in[1]);
    }
    // Output goes to files, not pipes, so a chatty child can never block on a full pipe.
    char out_name[] = "/tmp/ctr-test-out-XXXXXX";
    char err_name[] = "/tmp/ctr-test-err-XXXXXX";
    int out = ::mkstemp(out_name), err = ::mkstemp(err_name);
    ::unlink(out_name);
    ::unlink(err_name);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out, 1);
        ::dup2(err, 2);
        int null = ::open("/dev/null", O_RDONLY);
        ::dup2(input ? in[0] : null, 0);
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    if (input) ::close(in[0]);
    int pidfd = pidfd_open(pid);
    run_result r;
    auto status = wait_pidfd(pidfd, pid, limit);
    if (!status) {
        ::kill(pid, SIGKILL);
        status = wait_pidfd(pidfd, pid, 10s);
        r.err = "(killed: ran longer than the test allows)\n";
    }
    ::close(pidfd);
    r.code = status ? exit_code(*status) : -1;
    ::lseek(out, 0, SEEK_SET);
    ::lseek(err, 0, SEEK_SET);
    r.out = drain(out);
    r.err += drain(err);
    ::close(out);
    ::close(err);
    return r;
}

lab::lab(const std::string& containers, const std::string& supervisor) {
    char tmpl[] = "/tmp/ctr-it-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
    config = dir / "test.ini";
    socket = dir / "ctr.sock";
    state_dir = dir / "state";
    // A short default grace keeps tests that stop a `sleep` (deaf to SIGTERM as PID 1) quick.
    rewrite(containers, supervisor);
}

void lab::rewrite(const std::string& containers, const std::string& supervisor) {
    std::string grace =
        supervisor.find("stop_timeout") == std::string::npos ? "stop_timeout = 1s" : "";
    // Through a rename: a reload reads the old file or the new one, never half of it.
    auto next = dir / "test.ini.next";
    std::ofstream(next) << fmt::format(
        "[supervisor]\nsocket = {}\nstate_dir = {}\n{}\n{}\n\n{}\n", socket.string(),
        state_dir.string(), grace, supervisor,
        replace_all(containers, "@ROOTFS@", busybox_rootfs().string()));
    fs::rename(next, config);
}

run_result lab::reload() {
    return ctl({"reload"});
}

lab::~lab() {
    if (running() && stop(SIGTERM, 30s) < 0) stop(SIGKILL, 10s);
    // Whatever a killed supervisor left: its containers die with it (PDEATHSIG), so only files.
    std::error_code ec;
    fs::remove_all(dir, ec);
}

bool lab::start(const std::vector<std::string>& extra_args) {
    auto supervisor = binary.empty() ? build_dir() / "ctr-supervisor" : binary;
    std::vector<std::string> argv{supervisor.string(), "--config", config.string(), "--log-level",
                                  "debug"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
        int log = ::open((dir / "supervisor.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        ::dup2(log, 1);
        ::dup2(log, 2);
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    pidfd_ = pidfd_open(pid_);
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{pidfd_, POLLIN, 0};
        if (::poll(&p, 1, 0) == 1) { // exited before listening
            stop(SIGKILL, 5s);
            return false;
        }
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket.c_str());
        bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        if (up) return true;
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

int lab::stop(int sig, std::chrono::milliseconds limit) {
    if (!running()) return -1;
    ::kill(pid_, sig);
    auto status = wait_pidfd(pidfd_, pid_, limit);
    if (!status) return -1;
    ::close(pidfd_);
    pidfd_ = -1;
    return exit_code(*status);
}

run_result lab::ctl(std::vector<std::string> args, std::chrono::milliseconds limit) {
    return ctl_input(std::move(args), std::nullopt, limit);
}

run_result lab::ctl_input(std::vector<std::string> args, const std::optional<std::string>& input,
                          std::chrono::milliseconds limit) {
    args.insert(args.begin(), {(build_dir() / "ctrctl").string(), "--socket", socket.string()});
    return run_with_input(args, input, limit);
}

nlohmann::json lab::ps() {
    auto r = ctl({"ps", "--json"});
    if (r.code != 0) throw std::runtime_error("ctrctl ps failed: " + r.err);
    return nlohmann::json::parse(r.out);
}

nlohmann::json lab::status(const std::string& name) {
    for (auto& c : ps())
        if (c["name"] == name) return c;
    return nullptr;
}

bool lab::wait_state(const std::string& state, const std::vector<std::string>& names,
                     std::chrono::milliseconds limit) {
    std::vector<std::string> args{
        "wait", "--state", state, "--timeout",
        fmt::format("{:.3f}", std::chrono::duration<double>(limit).count())};
    args.insert(args.end(), names.begin(), names.end());
    return ctl(args, limit + 10s).code == 0;
}

std::string lab::log() const {
    return read_text(dir / "supervisor.log");
}
fs::path lab::upper(const std::string& name) const {
    return state_dir / "containers" / name / "upper";
}

std::string ns_of(pid_t pid, const char* kind) {
    std::error_code ec;
    auto target = fs::read_symlink(fmt::format("/proc/{}/ns/{}", pid, kind), ec);
    return ec ? "" : target.string();
}

std::vector<pid_t> processes_in_pid_ns(const std::string& ns) {
    std::vector<pid_t> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/proc", ec)) {
        auto name = e.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        pid_t pid = std::stoi(name);
        if (ns_of(pid, "pid") == ns) out.push_back(pid);
    }
    return out;
}

std::string read_text(const fs::path& file) {
    std::ifstream in(file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string wait_for_file(const fs::path& file, int lines, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        auto text = read_text(file);
        if (std::count(text.begin(), text.end(), '\n') >= lines ||
            std::chrono::steady_clock::now() > deadline)
            return text;
        std::this_thread::sleep_for(20ms);
    }
}

std::vector<std::string> host_mounts_mentioning(const std::string& needle) {
    std::vector<std::string> out;
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);)
        if (line.find(needle) != std::string::npos) out.push_back(line);
    return out;
}

} // namespace ctr::test

namespace ctr::test {

std::string test_network::ini(const std::string& name, const std::string& extra) const {
    return fmt::format("[network {}]\nbridge = {}\nsubnet = {}\n{}\n", name, bridge, subnet, extra);
}

test_network unique_network() {
    static int counter = 0;
    auto in_use = run({"/sbin/ip", "-o", "-4", "addr"}).out + run({"/sbin/ip", "-o", "link"}).out;
    for (int attempt = 0; attempt < 2000; ++attempt) {
        int n = (::getpid() + counter++ * 7919 + attempt) % 2000;
        test_network t;
        t.bridge = fmt::format("ctrt{}x{}", ::getpid() % 100000, counter);
        t.prefix = fmt::format("10.{}.{}.", 200 + n / 250, n % 250);
        t.subnet = t.prefix + "0/24";
        if (in_use.find(" " + t.prefix) == std::string::npos &&
            in_use.find(t.bridge + ":") == std::string::npos)
            return t;
    }
    throw std::runtime_error("no free test subnet");
}

std::vector<std::string> links_mentioning(const std::string& needle) {
    std::vector<std::string> out;
    std::istringstream lines(run({"/sbin/ip", "-o", "link"}).out);
    for (std::string line; std::getline(lines, line);)
        if (line.find(needle) != std::string::npos) out.push_back(line);
    return out;
}

} // namespace ctr::test
