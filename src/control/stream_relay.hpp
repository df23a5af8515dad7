// The blocking relay behind ctrctl attach, logs and exec: one poll() over the control socket,
// stdin (when input is wanted) and a signalfd. The three commands differ only in the policy.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <signal.h>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ctr/control/protocol.hpp"
#include "ctr/core/unique_fd.hpp"
#include "ctr/tty/terminal.hpp"

namespace ctr::control::stream {

// Blocks SIGWINCH, SIGINT, SIGTERM, SIGHUP and SIGQUIT into a signalfd and ignores SIGPIPE (so a
// closed stdout is EPIPE, not death), for the calling thread and as long as it lives. Made
// before connecting, so a Ctrl-C during the request is seen by the relay, not lost.
class signal_scope {
  public:
    signal_scope();
    ~signal_scope();
    signal_scope(const signal_scope&) = delete;
    signal_scope& operator=(const signal_scope&) = delete;
    int fd() const noexcept { return fd_.get(); }

  private:
    sigset_t old_mask_{};
    struct sigaction old_pipe_ {};
    unique_fd fd_;
};

// One stream connection: a normal request/response exchange, then frames both ways. Outgoing
// frames are queued and sent without blocking, so the relay keeps reading while the supervisor
// is slow to take input.
class connection {
  public:
    explicit connection(const std::filesystem::path& socket);
    // Sends the request and returns the "ok" response (ctr::error otherwise); the socket is
    // non-blocking from here on. Frames that came with the response stay in decoder().
    nlohmann::json open(const nlohmann::json& request);

    int fd() const noexcept { return fd_.get(); }
    const std::filesystem::path& socket() const noexcept { return path_; }
    frame_decoder& decoder() noexcept { return decoder_; }

    void queue(frame_type type, std::string_view payload);
    std::size_t queued() const noexcept { return out_.size() - sent_; }
    // Sends what the socket takes now; ctr::error when the supervisor went away.
    void flush_some();
    // Best effort on the way out: sends what is queued, says we are done writing and waits for
    // the supervisor's EOF (discarding what still arrives), all within `limit`. Closing with
    // unread bytes would make the supervisor read ECONNRESET instead of our last frame.
    void finish(std::chrono::milliseconds limit) noexcept;

  private:
    std::filesystem::path path_;
    unique_fd fd_;
    frame_decoder decoder_;
    std::string out_;
    std::size_t sent_ = 0;
};

struct relay_policy {
    std::string name; // the container, for messages
    // The process has a terminal: SIGWINCH sends our size.
    bool remote_tty = false;
    // stdin is read and sent as stdin_data.
    bool read_input = false;
    // Bytes typed on a local terminal that detach (attach only); empty: none.
    std::string detach_keys;
    enum class input_end {
        settle_then_detach, // attach: wait for the output to settle, then leave
        close_stdin,        // exec -i: the process's stdin ends too
    } at_input_end = input_end::close_stdin;
    enum class signals {
        detach,  // attach: leave, the container keeps running; exit 128+N
        forward, // exec: signal frames for the process
        stop,    // logs: end (SIGINT, SIGTERM: exit 0)
    } on_signal = signals::stop;
    // attach: print how the container ended; exec: only an error, if any.
    bool report_exit = false;
    // logs: the supervisor's EOF is the end, not a lost connection.
    bool eof_is_end = false;
    // The exit code when our stdout is closed under us (`| head`).
    int output_closed_code = 0;
    // Restored before anything is printed on the way out.
    tty::raw_mode* raw = nullptr;
};

// How long output must stay quiet after stdin's end before a piped attach leaves, and the most
// it waits in all for output that never stops.
inline constexpr std::chrono::milliseconds settle_quiet{300};
inline constexpr std::chrono::milliseconds settle_limit{5000};

// Runs until the process exits, a detach, the end of logs or a signal; returns ctrctl's exit
// code. Throws ctr::error for an error frame, a bad frame or a lost connection.
int relay(connection& conn, int signal_fd, const relay_policy& policy);

// The exit code an exit frame's JSON stands for (128+N for signal N; 1 when it says neither),
// and the line attach prints for it, without the newline.
struct exit_status {
    int code = 1;
    std::string message;
};
exit_status describe_exit(std::string_view name, const nlohmann::json& exit);

// The local terminal's size: stdin's, else stdout's.
std::optional<tty::window_size> local_size();

} // namespace ctr::control::stream
