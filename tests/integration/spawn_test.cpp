// What a container's first process sees: its own namespaces, PID 1, its hostname, its overlay,
// a clean fd table and signal state.
#include "harness.hpp"
#include <sstream>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace ctr::test;

namespace {
const char* forever = "sh -c 'trap \"exit 0\" TERM; while true; do sleep 1; done'";

pid_t pid_of(lab& l, const std::string& name) {
    auto st = l.status(name);
    return st.is_null() || st["pid"].is_null() ? 0 : st["pid"].get<pid_t>();
}
} // namespace

TEST_CASE("a container lives in its own pid, mount, uts, ipc, net and cgroup namespaces") {
    CTR_REQUIRE_ROOT();
    lab l(fmt::format("[container ns]\nrootfs = @ROOTFS@\ncommand = {}\n", forever));
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"ns"}));
    pid_t pid = pid_of(l, "ns");
    REQUIRE(pid > 0);
    for (const char* kind : {"pid", "mnt", "uts", "ipc", "net", "cgroup"}) {
        CAPTURE(kind);
        auto theirs = ns_of(pid, kind);
        REQUIRE_FALSE(theirs.empty());
        CHECK(theirs != ns_of(::getpid(), kind));
    }
}

TEST_CASE("the command is PID 1 with the container's hostname, root and environment") {
    CTR_REQUIRE_ROOT();
    lab l("[container web]\nrootfs = @ROOTFS@\nhostname = box\nworkdir = /tmp\n"
          "env = GREETING=hi there\n"
          "command = sh -c 'echo $$ > /out; hostname >> /out; pwd >> /out; "
          "echo \"$GREETING\" >> /out; grep \" / / \" /proc/self/mountinfo >> /out; "
          "ls / >> /out; exec sleep 1000'\n");
    REQUIRE(l.start());
    auto out = wait_for_file(l.upper("web") / "out", 6);
    CAPTURE(out);
    CAPTURE(l.log());
    std::istringstream lines(out);
    std::string pid1, host, cwd, greeting, root;
    std::getline(lines, pid1);
    std::getline(lines, host);
    std::getline(lines, cwd);
    std::getline(lines, greeting);
    std::getline(lines, root);
    CHECK(pid1 == "1");
    CHECK(host == "box");
    CHECK(cwd == "/tmp");
    CHECK(greeting == "hi there");
    // Its root is its own overlay over the shared image.
    CHECK(root.find("overlay") != std::string::npos);
    CHECK(root.find("upperdir=" + l.upper("web").string()) != std::string::npos);
    CHECK(out.find("\nbin\n") != std::string::npos);
    CHECK(out.find("\nproc\n") != std::string::npos);
}

TEST_CASE("writes land in the container's overlay, never in the shared image") {
    CTR_REQUIRE_ROOT();
    auto image_hosts = read_text(busybox_rootfs() / "etc/hosts");
    lab l("[container w]\nrootfs = @ROOTFS@\n"
          "command = sh -c 'echo planted > /newfile; echo changed > /etc/hosts; rm /usr/bin/wc; "
          "echo done > /done; exec sleep 1000'\n");
    REQUIRE(l.start());
    REQUIRE(wait_for_file(l.upper("w") / "done") == "done\n");
    CHECK(read_text(l.upper("w") / "newfile") == "planted\n");
    CHECK(read_text(l.upper("w") / "etc/hosts") == "changed\n");
    CHECK_FALSE(fs::exists(busybox_rootfs() / "newfile"));
    CHECK(read_text(busybox_rootfs() / "etc/hosts") == image_hosts);
    CHECK(fs::exists(fs::symlink_status(busybox_rootfs() / "usr/bin/wc")));
}

TEST_CASE("the container sees only fds 0, 1, 2 and a reset signal mask and dispositions") {
    CTR_REQUIRE_ROOT();
    lab l("[container quiet]\nrootfs = @ROOTFS@\ncommand = sleep 1000\n", "stop_timeout = 200ms");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("running", {"quiet"}));
    pid_t pid = pid_of(l, "quiet");
    REQUIRE(pid > 0);
    std::vector<std::string> fds;
    for (auto& e : fs::directory_iterator(fmt::format("/proc/{}/fd", pid)))
        fds.push_back(e.path().filename().string());
    std::sort(fds.begin(), fds.end());
    CHECK(fds == std::vector<std::string>{"0", "1", "2"});
    auto status = read_text(fmt::format("/proc/{}/status", pid));
    CHECK(status.find("SigBlk:\t0000000000000000") != std::string::npos);
    CHECK(status.find("SigIgn:\t0000000000000000") != std::string::npos);
}

TEST_CASE("a missing command fails with its exec error and exit code 127, a non-executable one "
          "with 126") {
    CTR_REQUIRE_ROOT();
    lab l("[container missing]\nrootfs = @ROOTFS@\ncommand = /bin/nosuch\n\n"
          "[container notexec]\nrootfs = @ROOTFS@\ncommand = /etc/passwd\n\n"
          "[container unknown]\nrootfs = @ROOTFS@\ncommand = nosuch-tool --flag\n");
    REQUIRE(l.start());
    REQUIRE(l.wait_state("failed", {"missing", "notexec", "unknown"}));
    auto missing = l.status("missing");
    CHECK(missing["error"] == "exec \"/bin/nosuch\": No such file or directory");
    CHECK(missing["exit_code"] == 127);
    auto notexec = l.status("notexec");
    CHECK(notexec["error"] == "exec \"/etc/passwd\": Permission denied");
    CHECK(notexec["exit_code"] == 126);
    CHECK(l.status("unknown")["error"] == "exec \"nosuch-tool\": No such file or directory");
    auto ps = l.ctl({"ps"});
    CHECK(ps.out.find("exec \"/bin/nosuch\": No such file or directory") != std::string::npos);
    // Starting it by hand reports the same error.
    auto start = l.ctl({"start", "missing"});
    CHECK(start.code == 1);
    CHECK(start.err.find("No such file or directory") != std::string::npos);
}
