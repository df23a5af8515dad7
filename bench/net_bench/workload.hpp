// What every container of a run executes, and the image it comes from. The default is
// ctr-pause (bench/pause/pause.cpp) in a tiny image the benchmark makes: a busybox `sh` that
// re-execs itself for `sleep` costs ~1.5 ms of CPU per container on this kind of VM before the
// command does anything (static glibc's start-up), which is the workload's cost, not the
// supervisor's. The busybox workload stays available (`--workload busybox`) and in every report.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ctr::bench {

struct workload {
    std::string name;              // "pause" or "busybox"
    std::filesystem::path rootfs;  // the image
    std::string command;           // the supervisor's `command =`
    std::vector<std::string> args; // crun's process.args: the same program
    std::string what;              // for the report
};

// `sh -c 'trap "exit 0" TERM; sleep 1000 & wait'` on the busybox image at `rootfs`.
workload busybox_workload(const std::filesystem::path& rootfs);

// A folder of its own under `parent` holding the pause image: `pause` (0755), an empty
// `etc/hosts` (the supervisor binds the network's hosts file over it) and the empty mount points
// `proc dev sys tmp` (crun's read-only root needs them; nothing writes to the image). Removed
// when the owner goes, also while an exception or an interrupt unwinds.
class pause_image {
  public:
    pause_image(const std::filesystem::path& parent, const std::filesystem::path& pause_binary);
    pause_image(const pause_image&) = delete;
    pause_image& operator=(const pause_image&) = delete;
    ~pause_image();

    workload get() const;
    // Removes it now; what would not go, as text.
    std::vector<std::string> remove();

  private:
    std::filesystem::path dir_;
};

} // namespace ctr::bench
