#include "ctr/spawn/init_image.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctr/core/error.hpp"
#include "ctr/sys/files.hpp"

// Linux 6.3: without it a host with vm.memfd_noexec = 1 makes memfds non-executable.
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

namespace ctr::spawn {

namespace fs = std::filesystem;

init_image::init_image(const fs::path& binary) {
    unique_fd src = sys::open_file(binary, O_RDONLY);
    struct stat st {};
    if (::fstat(src.get(), &st) != 0) throw_errno("fstat(\"{}\")", binary.string());
    if (!S_ISREG(st.st_mode)) fail("\"{}\" is not a regular file", binary.string());
    fd_.reset(::memfd_create("ctr-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC));
    if (!fd_ && errno == EINVAL) // a kernel before 6.3: every memfd is executable
        fd_.reset(::memfd_create("ctr-init", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd_) throw_errno("memfd_create(ctr-init)");
    off_t offset = 0;
    while (offset < st.st_size) {
        ssize_t n = ::sendfile(fd_.get(), src.get(), &offset,
                               static_cast<std::size_t>(st.st_size - offset));
        if (n < 0) throw_errno("sendfile(\"{}\" into memfd ctr-init)", binary.string());
        if (n == 0) fail("\"{}\" shrank while being copied into a memfd", binary.string());
    }
    if (::fchmod(fd_.get(), 0555) != 0) throw_errno("fchmod(memfd ctr-init, 0555)");
    // F_SEAL_WRITE is what keeps a container's write to /proc/1/exe out, whatever it opens it
    // with; F_SEAL_SEAL keeps anyone from lifting the seals again.
    if (::fcntl(fd_.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) !=
        0)
        throw_errno("fcntl(memfd ctr-init, F_ADD_SEALS)");
}

fs::path init_image::beside_self() {
    return fs::read_symlink("/proc/self/exe").parent_path() / "ctr-init";
}

} // namespace ctr::spawn
