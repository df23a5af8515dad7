// Files and folders the supervisor owns: its state dir, lock, state files.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "ctr/core/unique_fd.hpp"

namespace ctr::sys {

// Creates `dir` and missing parents with `mode` (existing ones keep theirs).
void make_dirs(const std::filesystem::path& dir, mode_t mode);
// Writes through a temp file, fsync and rename, so a reader sees the old or the new content.
void write_file_atomic(const std::filesystem::path& file, std::string_view content);
// The same without the fsync: a reader still sees the old or the new content, and a killed
// writer leaves one of the two (rename is atomic whatever happens to the process), but a crash of
// the machine may leave an empty file. For files only this run of the supervisor needs.
void replace_file(const std::filesystem::path& file, std::string_view content);
std::optional<std::string> read_file(const std::filesystem::path& file);
// Non-throwing twin that appends to `out`: 0, or the errno that stopped the read. `flags` are
// added to O_RDONLY | O_CLOEXEC (O_NOFOLLOW, O_NOCTTY).
int read_file_into(const std::filesystem::path& file, std::string& out, int flags = 0);
// Writes in place, for files that cannot be replaced (/proc/sys knobs, a bound /etc/hosts).
void write_file(const std::filesystem::path& file, std::string_view content);
// Removes a tree without following symlinks; "already gone" is success.
void remove_tree(const std::filesystem::path& path);
// Opens (creating) `file` and takes an exclusive flock; nothing when another process holds it.
std::optional<unique_fd> try_lock(const std::filesystem::path& file);
unique_fd open_file(const std::filesystem::path& file, int flags, mode_t mode = 0);
// A close-on-exec pipe; `what` names it in the error.
struct pipe_ends {
    unique_fd read, write;
};
pipe_ends make_pipe(const char* what);
// Makes sure fds 0, 1 and 2 are open (on /dev/null), so no fd the supervisor opens later lands
// there and is taken for a standard stream.
void ensure_std_fds();

} // namespace ctr::sys
