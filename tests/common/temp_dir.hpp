// A folder of one test's own under the temp dir, removed with all it holds at scope exit, also
// when the test fails.
#pragma once

#include <cerrno>
#include <filesystem>
#include <stdlib.h>
#include <string>
#include <string_view>
#include <system_error>

namespace ctr::test {

struct temp_dir {
    std::filesystem::path path;

    explicit temp_dir(std::string_view prefix = "ctr-test") {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
        if (!::mkdtemp(tmpl.data()))
            throw std::system_error(errno, std::generic_category(), "mkdtemp(" + tmpl + ")");
        path = tmpl;
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

} // namespace ctr::test
