// ctrctl's side of attach, logs and exec (the protocol is in stream.hpp). Blocking: one poll()
// over the socket, stdin and a signalfd; the client has nothing else to do.
//
// Each returns ctrctl's exit code: the process's own code when it ended (128+N for signal N),
// 0 after a detach or the end of logs, 1 on an error (printed as one `ctrctl: ` line on stderr).
// The local terminal, when put in raw mode, is restored on every way out.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ctr::control {

struct attach_options {
    bool replay = true;
    std::string detach_keys; // empty: tty::default_detach_keys
};
// The local terminal goes raw when stdin is one and the container has a terminal; resizes
// follow SIGWINCH; the detach keys leave. When stdin is not a terminal, its bytes are sent and
// the client detaches once stdin ended and the output has settled (no output for a moment).
// When the container exits, prints `NAME exited with code N` (or signal, or reason) on stderr.
int attach(const std::filesystem::path& socket, const std::string& name,
           const attach_options& opts);

struct logs_options {
    bool follow = false;
    std::optional<std::size_t> tail;
};
int logs(const std::filesystem::path& socket, const std::string& name, const logs_options& opts);

struct exec_options {
    std::vector<std::string> argv; // at least one
    std::vector<std::string> env;  // K=V
    std::string workdir;           // empty: the container's
    bool tty = false;              // -t: a terminal in the container; local terminal raw
    bool interactive = false;      // -i: stdin is sent; its end closes the process's stdin
};
// SIGINT, SIGTERM, SIGHUP and SIGQUIT received by ctrctl are forwarded to the process (with -t
// the terminal's own keys reach it as bytes).
int exec(const std::filesystem::path& socket, const std::string& name, const exec_options& opts);

} // namespace ctr::control
