#include <cerrno>
#include <fcntl.h>
#include <system_error>
#include <unistd.h>

#include <fmt/format.h>

#include "ctr/config/config.hpp"
#include "ctr/sys/files.hpp"

namespace ctr::config {

config load(const std::filesystem::path& file) {
    std::string text;
    if (int err = sys::read_file_into(file, text, O_NOCTTY))
        throw config_error({fmt::format("{}: cannot read: {}", file.string(),
                                        std::generic_category().message(err))});
    return parse(text, file, true);
}

} // namespace ctr::config
