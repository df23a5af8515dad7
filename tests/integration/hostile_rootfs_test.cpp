// A container's writes survive its restarts in its overlay, so it can plant symlinks where the
// supervisor mounts things. No start or restart may then mount over or write to a host path.
#include "common/temp_dir.hpp"
#include "harness.hpp"
#include <fstream>
#include <sys/stat.h>
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace ctr::test;

namespace {
std::vector<std::string> listing(const fs::path& dir) {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(dir))
        out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}
} // namespace

TEST_CASE("a container that plants /proc -> / and /dev -> a host folder cannot reach them") {
    CTR_REQUIRE_ROOT();
    temp_dir bait_dir("ctr-hostile");
    const fs::path& bait = bait_dir.path;
    auto host_root = listing("/");
    auto host_mounts = host_mounts_mentioning(" / / ").size();

    // First run: unmount what the supervisor mounted, replace the mount points by symlinks to
    // host paths, then crash so that on-failure starts it again on the same overlay. Unmounting
    // takes CAP_SYS_ADMIN, which a container only has when given it.
    lab l(fmt::format("[container evil]\nrootfs = @ROOTFS@\nrestart = on-failure\n"
                      "cap_add = SYS_ADMIN\n"
                      "command = sh -c 'if [ -e /planted ]; then exec sleep 1000; fi; "
                      "umount -l /dev/pts /dev/shm /dev/mqueue /dev /proc /sys; "
                      "rmdir /proc /dev; ln -s / /proc; ln -s {} /dev; "
                      "touch /planted; exit 1'\n",
                      bait.string()));
    REQUIRE(l.start());
    REQUIRE(l.wait_state("backoff", {"evil"}, std::chrono::seconds(10)));
    CAPTURE(l.log());
    REQUIRE(fs::is_symlink(l.upper("evil") / "proc"));
    REQUIRE(fs::is_symlink(l.upper("evil") / "dev"));

    // The restarts are refused with the symlink named; let two of them happen.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (l.status("evil")["restarts"].get<int>() < 2 &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto st = l.status("evil");
    CAPTURE(st.dump());
    CHECK(st["restarts"].get<int>() >= 2);
    CHECK(st["error"].get<std::string>().find("/proc") != std::string::npos);
    CHECK(st["error"].get<std::string>().find("symbolic links") != std::string::npos);

    // Nothing changed on the host: no device nodes in the bait, no mount on /, same root.
    CHECK(listing(bait).empty());
    CHECK(listing("/") == host_root);
    CHECK(host_mounts_mentioning(" / / ").size() == host_mounts);
    CHECK(host_mounts_mentioning(bait.string()).empty());
    CHECK(l.stop() == 0);
}

TEST_CASE("a rootfs that is missing, a regular file or a symlink is refused with its path") {
    CTR_REQUIRE_ROOT();
    temp_dir tmp("ctr-rootfs");
    const fs::path& dir = tmp.path;
    fs::create_directory_symlink(busybox_rootfs(), dir / "link");
    std::ofstream(dir / "file") << "not a rootfs\n";
    for (auto bad : {dir / "link", dir / "file", dir / "missing"}) {
        CAPTURE(bad);
        lab l(fmt::format("[container c]\nrootfs = {}\ncommand = true\n", bad.string()));
        auto r = run({(build_dir() / "ctr-supervisor").string(), "--config", l.config.string()});
        CHECK(r.code == 2);
        CHECK(r.err.find(bad.string()) != std::string::npos);
    }
}
