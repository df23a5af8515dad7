// The ctr-init binary (tools/ctr-init.cpp) as a sealed memfd, made once per supervisor: a
// container with `init = true` execs it from there, so its /proc/1/exe is a copy nobody can write
// to, never a host file (the CVE-2019-5736 class: a container that opens its PID 1's binary for
// writing must not reach one the host runs).
#pragma once

#include <filesystem>

#include "ctr/core/unique_fd.hpp"

namespace ctr::spawn {

// Where ctr-init finds the report pipe: the child puts it there, open across exec.
inline constexpr int init_report_fd = 3;

class init_image {
  public:
    // Copies `binary` into a memfd and seals it against every change. Throws std::system_error
    // naming the call and the file.
    explicit init_image(const std::filesystem::path& binary);
    int fd() const { return fd_.get(); }

    // ctr-init beside the running executable (build/ctr-init next to build/ctr-supervisor).
    static std::filesystem::path beside_self();

  private:
    unique_fd fd_;
};

} // namespace ctr::spawn
