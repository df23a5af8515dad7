// One container's output and input, whether or not anyone is attached.
//
//   terminal master ──▶ drain: one read (≤ 4 KiB) ──┐   ┌─▶ log file (rotated; marker per
//                       a step, held in batches     │   │   start/exit)
//                       of ≤ 64 KiB for ≤ 2 ms      ├───┼─▶ scrollback ring (replayed on attach)
//   or stdout and ────▶ drain: ≤ 256 KiB a wake-up, │   └─▶ each subscriber's queue ─▶ its client
//   stderr pipes        handed on in ≤ 64 KiB ──────┘       (or its direct sink, while the queue
//                       pieces                              is empty)
//
//   clients' input ─▶ input queue (bounded) ─▶ one writer ─▶ master (or stdin pipe)
//
// The hub drains whether or not anyone is attached, so a container never blocks on a terminal
// nobody reads; a wake-up reads a bounded amount, so a flooding container cannot hold up the loop.
// A terminal is batched because a read of it yields at most 4 KiB: handing a flood on read by
// read would cost a log write, a send and a client wake-up per 4 KiB. Pipes are not (a read takes
// up to 64 KiB), which also keeps stdout and stderr in the order they were read.
// An attached client that reads, but slower than the container writes, paces it as a local
// terminal would: above high_water queued bytes the drain pauses until the client is back under
// low_water (otherwise a client descheduled for 15 ms would lose a 80 MB/s stream). A client
// that stops reading is dropped by its writer after a short stall (stream_conn.hpp), which
// resumes the drain; followers (logs -f) never pace, they are dropped past their bound. The hub
// outlives runs: a container's restarts begin and end runs on the same hub, log and scrollback.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "ctr/core/notifier.hpp"
#include "ctr/core/unique_fd.hpp"
#include "ctr/sys/process.hpp"
#include "ctr/tty/log_file.hpp"
#include "ctr/tty/scrollback.hpp"
#include "ctr/tty/terminal.hpp"

namespace ctr::tty {

// How a run ended, for attached clients.
struct run_end {
    std::optional<sys::exit_status> exit; // none: it never ran (set-up failed)
    std::string reason;                   // "oom-killed", or empty
    std::string error;                    // the set-up failure, or empty
};

// The fds of one run, owned by the hub from begin() on. Either a terminal, or pipes.
struct run_io {
    unique_fd terminal; // the PTY master
    unique_fd out, err; // read ends of stdout and stderr
    unique_fd in;       // write end of stdin (none: no input)
};

// One client's view of the hub. The hub fills the queue; the client's writer drains it.
class subscriber {
  public:
    enum class kind {
        attach, // output of the current run, then its end
        follow, // output and log markers across runs, until the client leaves
    };
    struct chunk {
        stream from;
        std::string bytes;
    };

    subscriber(asio::any_io_executor ex, kind k, std::size_t limit);

    // Takes output at once instead of the queue, e.g. by writing it to the client's socket: false
    // when it cannot take these bytes now (a write in flight), and they are queued instead. It is
    // offered bytes only while the queue is empty, so their order is kept. Empty: none.
    using direct_sink = std::function<bool(stream, std::string_view)>;
    void send_directly(direct_sink sink) { direct_ = std::move(sink); }

    bool has_data() const { return !queue_.empty(); }
    chunk pop();
    // Set once: the run ended (attach only). Sent after the queue is empty.
    const std::optional<run_end>& ended() const { return ended_; }
    // Set once: the client fell more than `limit` bytes behind; the queue is dropped.
    bool overflowed() const { return overflowed_; }
    // Wakes on data, end and overflow.
    notifier& wake() { return wake_; }
    kind what() const { return kind_; }
    std::size_t queued() const { return queued_; }

  private:
    friend class hub;
    void push(stream from, std::string_view bytes);
    void end(run_end e);

    kind kind_;
    std::size_t limit_;
    std::deque<chunk> queue_;
    std::size_t queued_ = 0;
    std::optional<run_end> ended_;
    bool overflowed_ = false;
    notifier wake_;
    notifier* room_ = nullptr; // the hub's: told when the queue shrinks (attach only)
    direct_sink direct_;
};

class hub {
  public:
    static constexpr std::size_t read_budget = 256 * 1024; // bytes per wake-up per fd
    static constexpr std::size_t input_limit = 64 * 1024;  // queued input, all clients
    static constexpr std::size_t high_water = 256 * 1024;  // an attach client this far behind
    static constexpr std::size_t low_water = 64 * 1024;    // pauses the drain until back here

    // `log` and a `scrollback_bytes` of 0 are optional (an exec's relay has neither).
    hub(asio::any_io_executor ex, std::string name, std::optional<log_file> log,
        std::size_t scrollback_bytes);
    ~hub();
    hub(const hub&) = delete;
    hub& operator=(const hub&) = delete;

    // A run started: its fds are drained from now on. `marker` goes to the log.
    void begin(run_io io, std::string_view marker);
    // Its first process was reaped: waits (at most `drain_limit`) until its output fds reach
    // EOF so the last lines are not lost, closes them, writes `marker` to the log and ends every
    // attach subscriber with `how`.
    asio::awaitable<void> end(run_end how, std::string_view marker,
                              std::chrono::milliseconds drain_limit);
    // The container is gone for good: every subscriber, followers too, ends with `why`.
    void close(run_end why);
    // A line in the log (and to followers) outside any run, e.g. a start that failed early.
    void mark(std::string_view marker);

    // The scrollback is queued first when `replay`. Subscribers leave with unsubscribe().
    std::shared_ptr<subscriber> subscribe(subscriber::kind k, bool replay, std::size_t limit);
    void unsubscribe(const std::shared_ptr<subscriber>& s);

    bool running() const;
    bool has_terminal() const;
    bool takes_input() const;
    // Queues input for the process; waits while the queue is over input_limit. Input to a run
    // without input, or that ended, is dropped.
    asio::awaitable<void> write_input(std::string bytes);
    // The stdin pipe's write end is closed: the process reads EOF (pipes only).
    void close_input();
    // TIOCSWINSZ on the master, now and on every later run's terminal.
    void resize(window_size ws);
    // From the next write on (a reload changed log_max_size or log_max_files).
    void set_log_limits(log_limits l);

    struct state; // shared with the run's coroutines, which may outlive a hub being destroyed

  private:
    std::shared_ptr<state> s_;
};

} // namespace ctr::tty
