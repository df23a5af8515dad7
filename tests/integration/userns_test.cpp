// `userns = true`: the container's root is an unprivileged host id from [supervisor]'s range, its
// overlay and /dev work, the shared image stays untouched, and its network still works.
#include "harness.hpp"
#include <fstream>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "ctr/spawn/userns.hpp"

using namespace ctr::test;

namespace {

constexpr unsigned base = 310000;
constexpr unsigned size = 65536;
const std::string range = fmt::format("userns_base = {}\nuserns_size = {}\n", base, size);

// Waits until the container wrote `file` in its upper dir and finished it with "@@end@@".
std::string answers(const lab& l, const std::string& name, const std::string& file) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
        auto text = read_text(l.upper(name) / file);
        if (text.find("@@end@@") != std::string::npos) return text;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return read_text(l.upper(name) / file);
}

// Runs of blanks as one space: /proc/PID/uid_map pads its columns.
std::string squeeze(const std::string& text) {
    std::string out;
    for (char c : text)
        if (c != ' ' || (!out.empty() && out.back() != ' ' && out.back() != '\n')) out += c;
    return out;
}

struct stat stat_of(const fs::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) st.st_uid = st.st_gid = static_cast<unsigned>(-1);
    return st;
}

std::string status_line(pid_t pid, const std::string& key) {
    auto text = read_text(fmt::format("/proc/{}/status", pid));
    auto at = text.find(key + ":");
    return at == std::string::npos ? "" : text.substr(at, text.find('\n', at) - at);
}

} // namespace

TEST_CASE("userns: root inside is the configured host range; overlay, /dev, /sys and ping work") {
    CTR_REQUIRE_ROOT();
    auto net = unique_network();
    auto image_busybox = stat_of(busybox_rootfs() / "bin/busybox");
    // Each writes its answers into its own overlay, then stays up to be looked at from the host.
    std::string script =
        "exec > /answers 2>&1; cat /proc/self/uid_map /proc/self/gid_map; "
        "echo uid=$(id -u) gid=$(id -g); ls -ln /bin/busybox; "
        "echo x > /dev/null && echo devnull=ok; head -c 4 /dev/zero | wc -c; "
        "echo hi > /made && echo write=ok; mkdir /root/dir && echo mkdir=ok; "
        "echo more >> /etc/profile && echo copyup=ok; "
        "rm -r /sbin && mkdir /sbin && echo opaque=$(ls -A /sbin | wc -l); "
        "ls /sys/class/net | tr \"\\n\" \" \"; echo; grep CapEff /proc/self/status; "
        "until ping -c 1 -W 1 $PEER > /dev/null; do sleep 0.1; done; "
        "ping -c 1 -W 2 $PEER | grep -c \"bytes from\"; echo @@end@@; exec sleep 1000";
    auto section = [&](const std::string& name, const std::string& peer) {
        return fmt::format("[container {}]\nrootfs = @ROOTFS@\nnetwork = n\nuserns = true\n"
                           "env = PEER={}\ncommand = sh -c '{}'\n\n",
                           name, peer, script);
    };
    lab l(net.ini("n") + section("u1", "u2") + section("u2", "u1"), range);
    REQUIRE(l.start());
    CAPTURE(l.log());
    auto out = answers(l, "u1", "answers");
    // Its /etc/hosts is its own to edit, as without a user namespace.
    CHECK(stat_of(l.state_dir / "containers/u1/hosts").st_uid == base);
    CAPTURE(out);
    REQUIRE(out.find("@@end@@") != std::string::npos);

    // The maps, and root inside.
    CHECK(squeeze(out).starts_with(fmt::format("0 {0} {1}\n0 {0} {1}\n", base, size)));
    CHECK(out.find("uid=0 gid=0") != std::string::npos);
    // The image is id-mapped: its root-owned files are root's inside, not nobody's.
    CHECK(out.find(" 0        0 ") != std::string::npos);
    CHECK(out.find("devnull=ok") != std::string::npos);
    CHECK(out.find("\n4\n") != std::string::npos);
    CHECK(out.find("write=ok") != std::string::npos);
    CHECK(out.find("mkdir=ok") != std::string::npos);
    CHECK(out.find("copyup=ok") != std::string::npos);
    // A folder of the image removed and made again is empty: the overlay marks it opaque.
    CHECK(out.find("opaque=0") != std::string::npos);
    // sysfs shows the container's own network namespace.
    CHECK(out.find("eth0 lo") != std::string::npos);
    // Docker's default set, now relative to the user namespace.
    CHECK(out.find("CapEff:\t00000000a80425fb") != std::string::npos);
    CHECK(out.find("\n1\n@@end@@") != std::string::npos);

    // Seen from the host: its processes run as the first id of the range.
    auto status = l.status("u1");
    REQUIRE(status.contains("pid"));
    pid_t pid = status["pid"].get<pid_t>();
    CHECK(status_line(pid, "Uid") == fmt::format("Uid:\t{0}\t{0}\t{0}\t{0}", base));
    CHECK(status_line(pid, "Gid") == fmt::format("Gid:\t{0}\t{0}\t{0}\t{0}", base));
    CHECK(ns_of(pid, "user") != ns_of(::getpid(), "user"));

    // What it wrote belongs to the mapped root on the host; the shared image was not touched.
    for (auto file : {"made", "root/dir", "etc/profile", "answers"}) {
        CAPTURE(file);
        auto st = stat_of(l.upper("u1") / file);
        CHECK(st.st_uid == base);
        CHECK(st.st_gid == base);
    }
    auto after = stat_of(busybox_rootfs() / "bin/busybox");
    CHECK(after.st_uid == image_busybox.st_uid);
    CHECK(after.st_ctim.tv_sec == image_busybox.st_ctim.tv_sec);
    CHECK(after.st_ctim.tv_nsec == image_busybox.st_ctim.tv_nsec);
    CHECK(!fs::exists(busybox_rootfs() / "made"));
    CHECK(read_text(busybox_rootfs() / "etc/profile").find("more") == std::string::npos);

    auto ns = ns_of(pid, "pid");
    CHECK(l.stop() == 0);
    CHECK(processes_in_pid_ns(ns).empty());
    CHECK(host_mounts_mentioning(l.dir.string()).empty());
    CHECK(links_mentioning(net.bridge + ":").empty());
}

TEST_CASE("userns: a container without it next to one with it keeps the host's root") {
    CTR_REQUIRE_ROOT();
    lab l("[container plain]\nrootfs = @ROOTFS@\ncommand = sh -c 'cat /proc/self/uid_map > /map; "
          "echo @@end@@ >> /map; exec sleep 1000'\n\n"
          "[container mapped]\nrootfs = @ROOTFS@\nuserns = true\n"
          "command = sh -c 'cat /proc/self/uid_map > /map; echo @@end@@ >> /map; "
          "exec sleep 1000'\n",
          range);
    REQUIRE(l.start());
    CAPTURE(l.log());
    CHECK(squeeze(answers(l, "plain", "map")).starts_with("0 0 4294967295\n"));
    CHECK(squeeze(answers(l, "mapped", "map")).starts_with(fmt::format("0 {} {}\n", base, size)));
    CHECK(stat_of(l.upper("plain") / "map").st_uid == 0);
    CHECK(stat_of(l.upper("mapped") / "map").st_uid == base);
    CHECK(l.stop() == 0);
}

TEST_CASE("userns: readonly_rootfs, seccomp, masked paths and mounts still hold") {
    CTR_REQUIRE_ROOT();
    // A host folder below one only root may enter: the supervisor clones it, since the mapped
    // root could not even reach it.
    fs::path top = fs::temp_directory_path() / fmt::format("ctr-userns-src-{}", ::getpid());
    fs::path src = top / "data";
    fs::create_directories(src / "inner");
    fs::permissions(top, fs::perms::owner_all);
    std::ofstream(src / "inner" / "file") << "from the host\n";
    lab l(fmt::format("[container r]\nrootfs = @ROOTFS@\nuserns = true\nreadonly_rootfs = true\n"
                      "mounts = {}:/data:ro\n"
                      "command = sh -c 'exec > /dev/shm/answers 2>&1; "
                      "touch /x || echo rootfs=ro; cat /data/inner/file; "
                      "touch /data/y || echo data=ro; ls -ln /data/inner/file; "
                      "cat /proc/kcore | wc -c; mount -t tmpfs none /mnt || echo mount=refused; "
                      "echo 1 > /proc/sys/kernel/hostname || echo procsys=ro; "
                      "cp /dev/shm/answers /dev/shm/done; exec sleep 1000'\n",
                      src.string()),
          range);
    REQUIRE(l.start());
    CAPTURE(l.log());
    REQUIRE(l.wait_state("running", {"r"}));
    pid_t pid = l.status("r")["pid"].get<pid_t>();
    // /dev/shm is the container's tmpfs: read it through the process's root.
    fs::path done = fmt::format("/proc/{}/root/dev/shm/done", pid);
    auto out = wait_for_file(done, 7);
    CAPTURE(out);
    CHECK(out.find("rootfs=ro") != std::string::npos);
    CHECK(out.find("from the host") != std::string::npos);
    CHECK(out.find("data=ro") != std::string::npos);
    // A host root's file has no id inside: it shows as the overflow id, as documented.
    CHECK(out.find(" 65534    65534 ") != std::string::npos);
    CHECK(out.find("\n0\n") != std::string::npos);
    CHECK(out.find("mount=refused") != std::string::npos);
    CHECK(out.find("procsys=ro") != std::string::npos);
    CHECK(l.stop() == 0);
    fs::remove_all(top);
}

TEST_CASE("userns: the upper tree follows the map when userns is switched on and off") {
    CTR_REQUIRE_ROOT();
    fs::path dir = fs::temp_directory_path() / fmt::format("ctr-userns-shift-{}", ::getpid());
    ctr::spawn::overlay_paths paths{dir};
    for (auto& d : {paths.upper() / "etc", paths.work() / "work"})
        fs::create_directories(d);
    std::ofstream(paths.upper() / "etc" / "file") << "x";
    REQUIRE(::lchown((paths.upper() / "etc" / "file").c_str(), 1000, 1000) == 0);
    fs::create_symlink("/nowhere", paths.upper() / "link");
    // What the overlay writes, mounted by host root, on a folder the container emptied.
    REQUIRE(::setxattr((paths.upper() / "etc").c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0);
    auto xattr = [&](const char* name) {
        char v[8]{};
        auto n = ::getxattr((paths.upper() / "etc").c_str(), name, v, sizeof v);
        return n < 0 ? std::string("-") : std::string(v, static_cast<std::size_t>(n));
    };
    REQUIRE(::chmod((paths.upper() / "etc" / "file").c_str(), 04755) == 0);

    ctr::config::id_range r{base, size};
    ctr::spawn::prepare_overlay_dirs(paths, r);
    CHECK(stat_of(paths.upper()).st_uid == base);
    CHECK(stat_of(paths.upper() / "etc").st_uid == base);
    CHECK(stat_of(paths.upper() / "etc" / "file").st_uid == base + 1000);
    CHECK(stat_of(paths.upper() / "etc" / "file").st_gid == base + 1000);
    CHECK((stat_of(paths.upper() / "etc" / "file").st_mode & 07777) == 04755);
    CHECK(stat_of(paths.upper() / "link").st_uid == base);
    CHECK(stat_of(paths.work()).st_uid == base);
    CHECK(!fs::exists(paths.work() / "work"));
    CHECK((stat_of(dir).st_mode & 0777) == 0711);
    CHECK(xattr("user.overlay.opaque") == "y");
    CHECK(xattr("trusted.overlay.opaque") == "-");

    // The same map again changes nothing; off again gives the host ids back.
    ctr::spawn::prepare_overlay_dirs(paths, r);
    CHECK(stat_of(paths.upper() / "etc" / "file").st_uid == base + 1000);
    ctr::spawn::prepare_overlay_dirs(paths, std::nullopt);
    CHECK(stat_of(paths.upper()).st_uid == 0);
    CHECK(stat_of(paths.upper() / "etc" / "file").st_uid == 1000);
    CHECK(stat_of(paths.upper() / "link").st_uid == 0);
    CHECK((stat_of(dir).st_mode & 0777) == 0700);
    CHECK(!fs::exists(dir / "idmap"));
    CHECK(xattr("trusted.overlay.opaque") == "y");
    CHECK(xattr("user.overlay.opaque") == "-");
    fs::remove_all(dir);
}
