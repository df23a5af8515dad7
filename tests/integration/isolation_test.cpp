// What a container may do and see: Docker's default capabilities, no_new_privs, the seccomp
// filter, masked and read-only paths, a read-only root, extra binds, an rlimit, ping without
// CAP_NET_RAW, and nothing of the supervisor's. Containers print their answers; the test reads
// them from the container's log once it printed the end marker.
#include "common/temp_dir.hpp"
#include "harness.hpp"
#include <arpa/inet.h>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <sstream>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

using ctr::test::temp_dir;

using namespace ctr::test;

namespace {

constexpr const char* end_marker = "@@end@@";

// The container runs `script` in sh, then prints the end marker and exits.
std::string section(const std::string& name, const std::string& script,
                    const std::string& extra = "") {
    return fmt::format("[container {}]\nrootfs = @ROOTFS@\n{}command = sh -c '{}; echo {}'\n\n",
                       name, extra, script, end_marker);
}

// The container's own lines: the log's start and exit markers dropped.
std::string without_markers(const std::string& log) {
    std::string out;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);)
        if (!line.starts_with("[ctr-supervisor ")) out += line + "\n";
    return out;
}

// Its output once the end marker is there ("" after `limit`).
std::string output_of(const lab& l, const std::string& name,
                      std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    auto file = l.state_dir / "logs" / (name + ".log");
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        auto text = read_text(file);
        if (text.find(end_marker) != std::string::npos) return without_markers(text);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "";
}

// "key=value" and "Key:\tvalue" lines as a map.
std::map<std::string, std::string> fields(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        auto at = line.find_first_of("=:");
        if (at == std::string::npos) continue;
        auto value = line.substr(at + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        out.emplace(line.substr(0, at), value);
    }
    return out;
}

// The mount options (field 6) of the mount on `point` in a mountinfo text, "" when none; the
// last mount there is the one seen.
std::string mount_options(const std::string& mountinfo, const std::string& point) {
    std::string found;
    std::istringstream lines(mountinfo);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream f(line);
        std::string id, parent, dev, root, mnt, opts;
        if (f >> id >> parent >> dev >> root >> mnt >> opts && mnt == point) found = opts;
    }
    return found;
}

// From a forked child that joined the network namespace of `pid`: one ICMP echo to `ip` over a
// datagram socket (SOCK_DGRAM, IPPROTO_ICMP: no CAP_NET_RAW involved, only ping_group_range).
// "reply", or what failed.
std::string datagram_ping(pid_t pid, const std::string& ip) {
    int report[2];
    if (::pipe(report) != 0) return "pipe failed";
    pid_t child = ::fork();
    if (child == 0) {
        ::close(report[0]);
        auto say = [&](const char* what) {
            std::string msg = fmt::format("{}: {}", what, std::strerror(errno));
            if (std::strcmp(what, "reply") == 0) msg = what;
            (void)!::write(report[1], msg.data(), msg.size());
            ::_exit(0);
        };
        int ns = ::open(fmt::format("/proc/{}/ns/net", pid).c_str(), O_RDONLY | O_CLOEXEC);
        if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) say("setns");
        int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
        if (s < 0) say("socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)");
        sockaddr_in to{};
        to.sin_family = AF_INET;
        ::inet_pton(AF_INET, ip.c_str(), &to.sin_addr);
        icmphdr echo{};
        echo.type = ICMP_ECHO;
        echo.un.echo.sequence = htons(1);
        for (int attempt = 0; attempt < 20; ++attempt) {
            if (::sendto(s, &echo, sizeof echo, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
                say("sendto");
            pollfd p{s, POLLIN, 0};
            if (::poll(&p, 1, 500) == 1) {
                icmphdr answer{};
                if (::recv(s, &answer, sizeof answer, 0) >= static_cast<ssize_t>(sizeof answer) &&
                    answer.type == ICMP_ECHOREPLY)
                    say("reply");
            }
        }
        errno = ETIMEDOUT;
        say("no echo reply");
    }
    ::close(report[1]);
    std::string out;
    char buf[256];
    for (ssize_t n; (n = ::read(report[0], buf, sizeof buf)) > 0;)
        out.append(buf, static_cast<std::size_t>(n));
    ::close(report[0]);
    ::waitpid(child, nullptr, 0);
    return out;
}

const char* status_script = "grep -E \"^(Cap|NoNewPrivs|Seccomp)\" /proc/self/status";

} // namespace

TEST_CASE("a container holds Docker's 14 capabilities, no_new_privs and a seccomp filter") {
    CTR_REQUIRE_ROOT();
    lab l(section("plain", status_script));
    REQUIRE(l.start());
    auto out = output_of(l, "plain");
    CAPTURE(out);
    CAPTURE(l.log());
    auto f = fields(out);
    CHECK(f["CapInh"] == "0000000000000000");
    CHECK(f["CapPrm"] == "00000000a80425fb");
    CHECK(f["CapEff"] == "00000000a80425fb");
    CHECK(f["CapBnd"] == "00000000a80425fb");
    CHECK(f["CapAmb"] == "0000000000000000");
    CHECK(f["NoNewPrivs"] == "1");
    CHECK(f["Seccomp"] == "2");
}

TEST_CASE("cap_add and cap_drop change the set as in Docker") {
    CTR_REQUIRE_ROOT();
    // ALL is what the supervisor holds (it runs with this test's capabilities).
    auto own = fields(read_text("/proc/self/status"))["CapPrm"];
    std::uint64_t held = std::stoull(own, nullptr, 16);
    lab l(section("add", status_script, "cap_add = SYS_ADMIN\n") +
          section("drop", status_script, "cap_drop = chown\n") +
          section("only", status_script, "cap_drop = ALL\ncap_add = CAP_NET_BIND_SERVICE\n") +
          section("all", status_script, "cap_add = all\ncap_drop = sys_admin, SYS_MODULE\n"));
    REQUIRE(l.start());
    CAPTURE(l.log());
    auto expect = [&](const std::string& name, std::uint64_t caps) {
        auto out = output_of(l, name);
        CAPTURE(name);
        CAPTURE(out);
        auto f = fields(out);
        auto hex = fmt::format("{:016x}", caps);
        CHECK(f["CapEff"] == hex);
        CHECK(f["CapPrm"] == hex);
        CHECK(f["CapBnd"] == hex);
        CHECK(f["CapInh"] == "0000000000000000");
        CHECK(f["CapAmb"] == "0000000000000000");
    };
    expect("add", 0xa82425fb);
    expect("drop", 0xa80425fa);
    expect("only", 0x400);
    expect("all", held & ~((std::uint64_t{1} << 21) | (std::uint64_t{1} << 16)));
}

TEST_CASE("mounts, namespaces and the clock are refused; seccomp = unconfined lifts the filter") {
    CTR_REQUIRE_ROOT();
    // adjtimex without arguments only reads the clock, which the kernel allows anyone: only the
    // filter refuses it, so it tells the filter from the missing capability.
    std::string script = "mkdir -p /mnt; mount -t tmpfs none /mnt; echo mount=$?; "
                         "unshare -m true; echo unshare=$?; "
                         "adjtimex >/dev/null; echo adjtimex=$?; "
                         "grep Seccomp: /proc/self/status";
    lab l(section("confined", script) + section("admin", script, "cap_add = SYS_ADMIN\n") +
          section("free", script, "cap_add = SYS_ADMIN\nseccomp = unconfined\n") +
          section("bare", script, "seccomp = unconfined\n"));
    REQUIRE(l.start());
    CAPTURE(l.log());
    auto confined = fields(output_of(l, "confined"));
    CHECK(confined["mount"] != "0");
    CHECK(confined["unshare"] != "0");
    CHECK(confined["adjtimex"] != "0");
    CHECK(confined["Seccomp"] == "2");
    // CAP_SYS_ADMIN opens what Docker's profile gates on it, not the clock.
    auto admin = fields(output_of(l, "admin"));
    CHECK(admin["mount"] == "0");
    CHECK(admin["unshare"] == "0");
    CHECK(admin["adjtimex"] != "0");
    auto free = fields(output_of(l, "free"));
    CHECK(free["mount"] == "0");
    CHECK(free["unshare"] == "0");
    CHECK(free["adjtimex"] == "0");
    CHECK(free["Seccomp"] == "0");
    // Without the filter, the missing capability still refuses mounts and namespaces.
    auto bare = fields(output_of(l, "bare"));
    CHECK(bare["mount"] != "0");
    CHECK(bare["unshare"] != "0");
    CHECK(bare["adjtimex"] == "0");
    CHECK(bare["Seccomp"] == "0");
}

TEST_CASE("masked paths show nothing and /proc/sys, /proc/irq, /proc/bus are read-only") {
    CTR_REQUIRE_ROOT();
    std::vector<std::string> masked{"/proc/acpi",        "/proc/kcore",
                                    "/proc/keys",        "/proc/latency_stats",
                                    "/proc/timer_list",  "/proc/timer_stats",
                                    "/proc/sched_debug", "/proc/scsi",
                                    "/sys/firmware",     "/sys/devices/virtual/powercap"};
    std::vector<std::string> readonly{"/proc/asound", "/proc/bus", "/proc/fs",
                                      "/proc/irq",    "/proc/sys", "/proc/sysrq-trigger"};
    std::string script = "for p in";
    for (auto& p : masked)
        script += " " + p;
    // A masked file is the container's /dev/null (char 1:3); a masked folder an empty tmpfs.
    script += "; do if [ -d $p ]; then echo $p=dir:$(ls -A $p | wc -l); "
              "elif [ -e $p ]; then echo $p=$(stat -c %t:%T $p):$(cat $p | wc -c); "
              "else echo $p=absent; fi; done; "
              "echo x > /proc/sys/kernel/hostname; echo hostname=$?; "
              "echo 1 > /proc/sys/net/ipv4/ip_forward; echo ip_forward=$?; "
              "if [ -e /proc/sysrq-trigger ]; then [ -w /proc/sysrq-trigger ]; echo sysrq=$?; "
              "else echo sysrq=absent; fi; "
              "cat /proc/kcore >/dev/null 2>&1; echo kcore=$?; "
              "cat /proc/self/mountinfo";
    lab l(section("masked", script));
    REQUIRE(l.start());
    auto out = output_of(l, "masked");
    CAPTURE(out);
    CAPTURE(l.log());
    auto f = fields(out);
    int seen = 0;
    for (auto& p : masked) {
        CAPTURE(p);
        // Host and container share the kernel: what the host has, the container has masked.
        if (!fs::exists(p)) {
            CHECK(f[p] == "absent");
            continue;
        }
        ++seen;
        CHECK(f[p] == (fs::is_directory(p) ? "dir:0" : "1:3:0"));
        CHECK(mount_options(out, p).starts_with(fs::is_directory(p) ? "ro," : "rw,"));
    }
    CHECK(seen >= 2); // /proc/keys and /sys/firmware at least, on any kernel of these years
    for (auto& p : readonly) {
        CAPTURE(p);
        if (fs::exists(p)) CHECK(mount_options(out, p).starts_with("ro,"));
    }
    CHECK(f["hostname"] != "0");
    CHECK(f["ip_forward"] != "0");
    CHECK((f["sysrq"] == "1" || f["sysrq"] == "absent"));
    CHECK(f["kcore"] != "0"); // masked, or missing from this kernel: never the host's memory
    CHECK(mount_options(out, "/sys").starts_with("ro,"));
}

TEST_CASE("readonly_rootfs makes / read-only while /dev/shm and binds stay writable") {
    CTR_REQUIRE_ROOT();
    temp_dir host;
    std::string script = "touch /x; echo root=$?; touch /tmp/x; echo tmp=$?; "
                         "touch /dev/shm/x; echo shm=$?; touch /data/x; echo data=$?";
    lab l(section("ro", script,
                  fmt::format("readonly_rootfs = true\nmounts = {}:/data\n", host.path.string())) +
          section("rw", script, fmt::format("mounts = {}:/data\n", host.path.string())));
    REQUIRE(l.start());
    CAPTURE(l.log());
    auto ro = fields(output_of(l, "ro"));
    CHECK(ro["root"] != "0");
    CHECK(ro["tmp"] != "0"); // like Docker: /tmp is part of the root
    CHECK(ro["shm"] == "0");
    CHECK(ro["data"] == "0");
    auto rw = fields(output_of(l, "rw"));
    CHECK(rw["root"] == "0");
    CHECK(rw["tmp"] == "0");
    CHECK(fs::exists(host.path / "x"));
    CHECK_FALSE(fs::exists(l.upper("ro") / "x"));
    CHECK(fs::exists(l.upper("rw") / "x"));
}

TEST_CASE("mounts bind host files and folders, create their targets, and :ro refuses writes") {
    CTR_REQUIRE_ROOT();
    temp_dir host;
    std::ofstream(host.path / "greeting") << "hello from the host\n";
    fs::create_directory(host.path / "share");
    std::string script = "cat /etc/greeting; echo changed > /etc/greeting; echo ro=$?; "
                         "echo from-the-container > /srv/deep/share/note; echo rw=$?; "
                         "grep \" /etc/greeting \" /proc/self/mountinfo";
    lab l(section("binds", script,
                  fmt::format("mounts = {0}/greeting:/etc/greeting:ro\n"
                              "mounts = {0}/share:/srv/deep/share\n",
                              host.path.string())));
    REQUIRE(l.start());
    auto out = output_of(l, "binds");
    CAPTURE(out);
    CAPTURE(l.log());
    CHECK(out.starts_with("hello from the host\n"));
    auto f = fields(out);
    CHECK(f["ro"] != "0");
    CHECK(f["rw"] == "0");
    CHECK(read_text(host.path / "greeting") == "hello from the host\n");
    CHECK(read_text(host.path / "share/note") == "from-the-container\n");
    // The targets were made in the container's own overlay, never in the shared image.
    CHECK(fs::is_regular_file(l.upper("binds") / "etc/greeting"));
    CHECK(fs::is_directory(l.upper("binds") / "srv/deep/share"));
    CHECK_FALSE(fs::exists(busybox_rootfs() / "srv/deep"));
    CHECK(mount_options(out, "/etc/greeting").starts_with("ro"));
}

TEST_CASE("a mounts target the container replaced by a symlink is refused, never followed") {
    CTR_REQUIRE_ROOT();
    temp_dir host;
    temp_dir bait;
    // First run (CAP_SYS_ADMIN lets it unmount): swap /data for a symlink to a host folder, then
    // fail so that on-failure starts it again on the same overlay.
    lab l(fmt::format("[container evil]\nrootfs = @ROOTFS@\nrestart = on-failure\n"
                      "cap_add = SYS_ADMIN\nmounts = {}:/data\n"
                      "command = sh -c 'if [ -e /planted ]; then exec sleep 1000; fi; "
                      "umount /data && rmdir /data && ln -s {} /data && touch /planted; "
                      "exit 1'\n",
                      host.path.string(), bait.path.string()));
    REQUIRE(l.start());
    CAPTURE(l.log());
    REQUIRE(l.wait_state("backoff", {"evil"}, std::chrono::seconds(10)));
    REQUIRE(fs::is_symlink(l.upper("evil") / "data"));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (l.status("evil")["restarts"].get<int>() < 2 &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto st = l.status("evil");
    CAPTURE(st.dump());
    auto error = st["error"].get<std::string>();
    CHECK(error.find(fmt::format("mounts = {}:/data", host.path.string())) != std::string::npos);
    CHECK(error.find("symbolic links") != std::string::npos);
    CHECK(fs::is_empty(bait.path));
    CHECK(host_mounts_mentioning(bait.path.string()).empty());
}

TEST_CASE("nofile sets RLIMIT_NOFILE; without it the supervisor's limit is inherited") {
    CTR_REQUIRE_ROOT();
    std::string script = "echo soft=$(ulimit -n); echo hard=$(ulimit -Hn)";
    lab l(section("limited", script, "nofile = 777:4096\n") + section("inherited", script));
    REQUIRE(l.start());
    CAPTURE(l.log());
    auto limited = fields(output_of(l, "limited"));
    CHECK(limited["soft"] == "777");
    CHECK(limited["hard"] == "4096");
    struct rlimit own {};
    ::getrlimit(RLIMIT_NOFILE, &own);
    auto inherited = fields(output_of(l, "inherited"));
    CHECK(inherited["soft"] == std::to_string(own.rlim_cur));
}

TEST_CASE("nothing of the supervisor reaches a container: fds, paths, environment") {
    CTR_REQUIRE_ROOT();
    ::setenv("CTR_TEST_SUPERVISOR_ONLY", "leaked", 1);
    lab l("");
    // The script needs the lab's own paths, known only now.
    std::ofstream(l.config, std::ios::app) << fmt::format(
        "[container probe]\nrootfs = {}\ncommand = sh -c 'echo fds=$(ls /proc/self/fd | tr "
        "\"\\n\" \" \"); [ -e {} ]; echo state=$?; [ -e {} ]; echo socket=$?; "
        "env | grep -c CTR_TEST_SUPERVISOR_ONLY; cat /proc/self/mountinfo; echo {}'\n",
        busybox_rootfs().string(), l.state_dir.string(), l.socket.string(), end_marker);
    bool started = l.start();
    ::unsetenv("CTR_TEST_SUPERVISOR_ONLY");
    REQUIRE(started);
    auto out = output_of(l, "probe");
    CAPTURE(out);
    CAPTURE(l.log());
    auto f = fields(out);
    // ls's own directory fd is 3; nothing else was open at exec.
    CHECK(f["fds"] == "0 1 2 3");
    CHECK(f["state"] == "1");
    CHECK(f["socket"] == "1");
    CHECK(out.find("\n0\n") != std::string::npos); // grep -c: no such variable
    // The state dir appears in one place only: the overlay's own options (upperdir, workdir),
    // which every overlay shows, as in Docker. No mount point or mount source names it.
    std::istringstream lines(out);
    int mentions = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.find(l.dir.string()) == std::string::npos) continue;
        ++mentions;
        CAPTURE(line);
        auto sep = line.find(" - ");
        REQUIRE(sep != std::string::npos);
        CHECK(line.substr(0, sep).find(l.dir.string()) == std::string::npos);
        CHECK(line.substr(sep).starts_with(" - overlay overlay "));
    }
    CHECK(mentions == 1);
}

// Busybox's ping opens only raw ICMP sockets (no datagram fallback: "permission denied (are
// you root?)" without CAP_NET_RAW). So for a container without CAP_NET_RAW the test checks what
// iputils' ping would use: an ICMP datagram socket, allowed by the container's
// net.ipv4.ping_group_range for its group 0 (a new namespace's default "1 0" allows nobody),
// opened in that container's network namespace; the echo goes to the other container.
TEST_CASE("ping works between containers with the default set and without CAP_NET_RAW") {
    CTR_REQUIRE_ROOT();
    auto net = unique_network();
    auto script = [&](const std::string& peer_ip) {
        return fmt::format("cat /proc/sys/net/ipv4/ping_group_range > /range; "
                           "i=0; until ping -c 1 -W 1 {0} >/dev/null 2>&1 || [ $i -ge 50 ]; "
                           "do i=$((i+1)); sleep 0.1; done; "
                           "ping -c 2 -W 2 {0} > /ping 2>&1; "
                           "grep CapEff /proc/self/status > /caps; exec sleep 1000",
                           peer_ip);
    };
    lab l(net.ini("n") + fmt::format("[container a]\nrootfs = @ROOTFS@\nnetwork = n\nip = {0}10\n"
                                     "command = sh -c '{1}'\n\n"
                                     "[container b]\nrootfs = @ROOTFS@\nnetwork = n\nip = {0}11\n"
                                     "cap_drop = NET_RAW\ncommand = {2}\n",
                                     net.prefix, script(net.prefix + "11"),
                                     "sh -c 'cat /proc/sys/net/ipv4/ping_group_range > /range; "
                                     "grep CapEff /proc/self/status > /caps; exec sleep 1000'"));
    REQUIRE(l.start());
    CAPTURE(l.log());
    // a, with the default set, pings b with busybox's raw socket once b answers.
    auto caps = wait_for_file(l.upper("a") / "caps", 1, std::chrono::seconds(20));
    CHECK(caps == "CapEff:\t00000000a80425fb\n");
    CAPTURE(read_text(l.upper("a") / "ping"));
    CHECK(read_text(l.upper("a") / "ping").find("2 packets received") != std::string::npos);
    // b, without CAP_NET_RAW, pings a through an ICMP datagram socket in its namespace.
    CHECK(wait_for_file(l.upper("b") / "caps") == "CapEff:\t00000000a80405fb\n");
    for (auto name : {"a", "b"}) {
        CAPTURE(name);
        CHECK(read_text(l.upper(name) / "range") == "0\t2147483647\n");
    }
    auto b = l.status("b");
    REQUIRE(b["pid"].is_number());
    CHECK(datagram_ping(b["pid"].get<pid_t>(), net.prefix + "10") == "reply");
    CHECK(l.stop() == 0);
}
