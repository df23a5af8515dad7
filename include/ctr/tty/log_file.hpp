// A container's log: everything it prints, in NAME.log under the supervisor's log_dir, kept
// across its restarts with one marker line per start and exit, rotated by size:
//
//   NAME.log  ──full──▶  NAME.log.1  ──▶  NAME.log.2  ...  NAME.log.<max_files-1>  ──▶  gone
//
// Writes go straight to the file (page cache, no fsync): they are cheap, and the log must not
// stall a container's output.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctr/core/unique_fd.hpp"

namespace ctr::tty {

struct log_limits {
    std::uint64_t max_size = 10u << 20; // bytes per file before it rotates
    unsigned max_files = 5;             // files kept, the current one included (at least 1)
};

class log_file {
  public:
    // Opens (creating, mode 0640) the current file for appending; throws ctr::error.
    log_file(std::filesystem::path path, log_limits limits);

    // Appends, rotating first when the current file is not empty and the bytes would take it
    // past max_size. Throws ctr::error (disk full, say); the file stays usable for later writes.
    void write(std::string_view bytes);
    // One line `[ctr-supervisor <UTC time>] text`, starting a new line when the last byte
    // written was not a newline.
    void mark(std::string_view text);

    void set_limits(log_limits l) { limits_ = l; }
    const std::filesystem::path& path() const { return path_; }
    std::uint64_t size() const { return size_; }

  private:
    void rotate();

    std::filesystem::path path_;
    log_limits limits_;
    unique_fd fd_;
    std::uint64_t size_ = 0;
    bool at_line_start_ = true;
};

// `[ctr-supervisor <UTC time>] text\n`, the line mark() writes (newlines in text made spaces).
std::string marker_line(std::string_view text);

// The log's files that exist, oldest first (NAME.log.<n> ... NAME.log.1, NAME.log).
std::vector<std::filesystem::path> log_files(const std::filesystem::path& current,
                                             unsigned max_files);
// The log's bytes across its files, oldest first; with `lines`, only its last that many lines
// (a last line without a newline counts). Missing files are skipped; throws ctr::error on a
// read error.
std::string read_log(const std::filesystem::path& current, unsigned max_files,
                     std::optional<std::size_t> lines = std::nullopt);

} // namespace ctr::tty
