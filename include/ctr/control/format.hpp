// What ctrctl prints and the argument values it accepts, kept out of tools/ctrctl.cpp so they
// can be unit-tested. Rendering tolerates statuses with missing or odd fields ("-"), because
// it must never be the reason `ctrctl ps` fails against a newer or older supervisor.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ctr::control {

// Two units at most, like ps-style tools: "5s", "3m12s", "2h04m", "3d07h". Negative is "0s".
std::string format_uptime(std::chrono::milliseconds d);

// A status's EXIT column: the signal that ended it ("SIGKILL"), else its exit code, else "-";
// with its reason when it has one: "SIGKILL (oom-killed)".
std::string format_exit(const nlohmann::json& status);

// The `ctrctl ps` table for a "containers" array: NAME STATE PID RESTARTS UPTIME EXIT ERROR,
// newline-terminated. UPTIME is measured from "started_at" to `now`, only while running.
std::string format_ps(const nlohmann::json& containers, std::chrono::system_clock::time_point now);
// `ctrctl net`: one line per container, the network's columns on its first line.
std::string format_net(const nlohmann::json& networks);
// `ctrctl stats` for a "containers" array of stats: NAME MEM MEM-PEAK PIDS CPU(s).
std::string format_stats(const nlohmann::json& containers);
// Binary units with one decimal, as the memory key takes them: "512B", "1.5K", "64.0M".
std::string format_bytes(std::uint64_t bytes);
// Left-aligned columns two spaces apart, the last one unpadded.
std::string render_table(const std::vector<std::vector<std::string>>& rows);

// "KILL", "SIGKILL", "kill", "9", "RTMIN+3" -> the signal number. Throws ctr::error otherwise.
int parse_signal(std::string_view text);

// A non-negative number of seconds, fractions allowed, optionally suffixed "s" ("1.5", "10s").
// Throws ctr::error otherwise.
std::chrono::milliseconds parse_seconds(std::string_view text);

} // namespace ctr::control
