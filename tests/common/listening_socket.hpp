// The socket end of a fake supervisor: a Unix stream socket listening at ctr.sock in a folder of
// its own under the temp dir, which goes with all it holds at scope exit.
#pragma once

#include "common/temp_dir.hpp"
#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/un.h>
#include <system_error>

#include "ctr/core/unique_fd.hpp"

namespace ctr::test {

struct listening_socket {
    temp_dir dir;
    std::filesystem::path path = dir.path / "ctr.sock";
    unique_fd fd;

    explicit listening_socket(std::string_view prefix) : dir(prefix) {
        fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd) fail("socket(AF_UNIX)");
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path.native().copy(addr.sun_path, sizeof addr.sun_path - 1);
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            fail("bind(" + path.string() + ")");
        if (::listen(fd.get(), 1) != 0) fail("listen(" + path.string() + ")");
    }

    // Wakes a thread still blocked in accept() when the client never connected.
    void shut_down() { ::shutdown(fd.get(), SHUT_RDWR); }

  private:
    [[noreturn]] static void fail(const std::string& what) {
        throw std::system_error(errno, std::generic_category(), what);
    }
};

} // namespace ctr::test
