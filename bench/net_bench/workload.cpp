#include "workload.hpp"

#include "host.hpp"
#include <fstream>

#include "ctr/core/error.hpp"

namespace ctr::bench {

workload busybox_workload(const fs::path& rootfs) {
    return {"busybox",
            rootfs,
            "sh -c 'trap \"exit 0\" TERM; sleep 1000 & wait'",
            {"sh", "-c", "trap \"exit 0\" TERM; sleep 1000 & wait"},
            "busybox sh + sleep"};
}

pause_image::pause_image(const fs::path& parent, const fs::path& pause_binary)
    : dir_(make_temp_dir(parent, "ctr-bench-pause")) {
    try {
        constexpr auto dir_mode = fs::perms::owner_all | fs::perms::group_read |
                                  fs::perms::group_exec | fs::perms::others_read |
                                  fs::perms::others_exec;
        fs::permissions(dir_, dir_mode); // mkdtemp's 0700 is not what an image has
        fs::copy_file(pause_binary, dir_ / "pause");
        fs::permissions(dir_ / "pause", dir_mode);
        for (const char* sub : {"etc", "proc", "dev", "sys", "tmp"})
            fs::create_directory(dir_ / sub);
        std::ofstream hosts(dir_ / "etc/hosts");
        if (!hosts) fail("cannot create {}", (dir_ / "etc/hosts").string());
    } catch (...) {
        remove();
        throw;
    }
}

pause_image::~pause_image() {
    try {
        remove();
    } catch (const std::exception&) {
        // Only reached while something else already failed: that is what gets reported.
    }
}

workload pause_image::get() const {
    return {"pause", dir_, "/pause", {"/pause"}, "/pause (ctr-pause, no libc)"};
}

std::vector<std::string> pause_image::remove() {
    if (dir_.empty()) return {};
    auto left = remove_dir(dir_);
    dir_.clear();
    return left;
}

} // namespace ctr::bench
