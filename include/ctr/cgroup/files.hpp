// Reading and writing cgroup knobs. Every failure is a std::system_error naming the file (and the
// value written); where "not there" is an answer rather than an error, a twin returns nothing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace ctr::cgroup {

std::string read_knob(const std::filesystem::path& file);
// Nothing when the file does not exist (a knob this kernel lacks, a folder already removed).
std::optional<std::string> try_read_knob(const std::filesystem::path& file);
// One write(2), as the kernel takes a knob's value: `write("…/pids.max" <- "64"): Invalid
// argument`.
void write_knob(const std::filesystem::path& file, std::string_view value);

// A knob holding one number ("123\n"); nothing for "max" or text that is not a number.
std::optional<std::uint64_t> parse_number(std::string_view text);
// A flat keyed file ("oom_kill 3\n" in memory.events, memory.oom_control, cpu.stat): the number
// after `key`, or nothing when the key is absent.
std::optional<std::uint64_t> parse_keyed(std::string_view text, std::string_view key);
// cgroup.procs: one pid per line.
std::vector<pid_t> parse_pids(std::string_view text);

} // namespace ctr::cgroup
