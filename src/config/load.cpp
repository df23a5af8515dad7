#include <cerrno>
#include <fcntl.h>
#include <system_error>
#include <unistd.h>

#include <fmt/format.h>

#include "ctr/config/config.hpp"
#include "ctr/core/unique_fd.hpp"

namespace ctr::config {
namespace {

// Returns 0, or the errno that stopped the read.
int read_file(const std::filesystem::path& file, std::string& out) {
    unique_fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return errno;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
}

} // namespace

config load(const std::filesystem::path& file) {
    std::string text;
    if (int err = read_file(file, text))
        throw config_error({fmt::format("{}: cannot read: {}", file.string(),
                                        std::generic_category().message(err))});
    return parse(text, file, true);
}

} // namespace ctr::config
