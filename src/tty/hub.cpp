#include "ctr/tty/hub.hpp"

#include <array>
#include <fcntl.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "ctr/core/awaitable.hpp"
#include "ctr/core/error.hpp"
#include "ctr/core/log.hpp"

namespace ctr::tty {

using namespace asio::experimental::awaitable_operators;
using descriptor = asio::posix::stream_descriptor;

namespace {
constexpr window_size default_size{24, 80};
constexpr std::size_t coalesce_limit = 64 * 1024;
constexpr std::size_t hand_on_batch = 64 * 1024;
// A terminal's read that finds less than this with nothing held is handed on at once (an echo, a
// prompt); more starts a batch, which waits at most batch_delay for the rest of a flood.
constexpr std::size_t small_output = 1024;
constexpr auto batch_delay = std::chrono::milliseconds(2);

// Every pipe drain reads into this one buffer and hands the bytes on before it next waits: the
// loop has one thread, so idle pipe containers cost no read buffers at all.
std::array<char, hub::read_budget> read_buffer;

void set_nonblocking(int fd, const char* what) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        throw_errno("fcntl({}, O_NONBLOCK)", what);
}
} // namespace

subscriber::subscriber(asio::any_io_executor ex, kind k, std::size_t limit)
    : kind_(k), limit_(limit), wake_(ex) {}

subscriber::chunk subscriber::pop() {
    chunk c = std::move(queue_.front());
    queue_.pop_front();
    queued_ -= c.bytes.size();
    if (room_ && queued_ < hub::low_water) room_->notify();
    return c;
}

void subscriber::push(stream from, std::string_view bytes) {
    if (overflowed_ || ended_ || bytes.empty()) return;
    if (queue_.empty() && direct_ && direct_(from, bytes)) return;
    if (queued_ + bytes.size() > limit_) {
        overflowed_ = true;
        queue_.clear();
        queued_ = 0;
        wake_.notify();
        if (room_) room_->notify();
        return;
    }
    // Fewer, larger frames for a client that reads slower than the container writes.
    if (!queue_.empty() && queue_.back().from == from &&
        queue_.back().bytes.size() < coalesce_limit)
        queue_.back().bytes.append(bytes);
    else
        queue_.push_back({from, std::string(bytes)});
    queued_ += bytes.size();
    wake_.notify();
}

void subscriber::end(run_end e) {
    if (ended_) return;
    ended_ = std::move(e);
    wake_.notify();
    if (room_) room_->notify();
}

// What a terminal's drain holds back. A terminal yields at most 4 KiB a read (the n_tty read
// buffer), so a flood handed on read by read costs a log write, a send and the client's wake-up
// per 4 KiB, which made a relay much slower than a raw reader. Held up to 64 KiB or batch_delay;
// pipes need none (a read takes up to 64 KiB), and batching them would reorder stdout and stderr.
struct batch {
    explicit batch(asio::any_io_executor ex) : timer(ex) {}
    std::string bytes; // capacity only while bytes are held: 100 idle runs hold nothing
    asio::steady_timer timer;
    bool armed = false;
    bool closed = false; // the run ended: a timer already due must not hand on after its marker
};

// One run's fds. Drains and the input writer hold it, so closing it from end() while they are
// suspended is safe: they wake with operation_aborted and find it ended.
struct run {
    std::shared_ptr<descriptor> terminal, out, err, in;
    std::shared_ptr<batch> held; // the terminal's
    int open_outputs = 0;
    bool ended = false;
};

struct hub::state {
    state(asio::any_io_executor e, std::string n, std::optional<log_file> l, std::size_t ring)
        : ex(e), name(std::move(n)), log(std::move(l)), drained(e), input_space(e), room(e) {
        if (ring) scroll.emplace(ring);
    }

    asio::any_io_executor ex;
    std::string name;
    std::optional<log_file> log;
    std::optional<scrollback> scroll;
    std::list<std::shared_ptr<subscriber>> subs;
    std::shared_ptr<run> current;
    notifier drained;
    std::deque<std::string> input;
    std::size_t input_bytes = 0;
    bool writing = false;
    notifier input_space;
    std::optional<window_size> size;
    bool log_failing = false;
    notifier room;       // an attach client's queue shrank, or one left
    bool paused = false; // drains wait for room (hysteresis between the two marks)

    // Whether an attach client that still reads is too far behind for the drains to go on.
    bool held_back() const {
        std::size_t mark = paused ? hub::low_water : hub::high_water;
        for (auto& sub : subs)
            if (sub->what() == subscriber::kind::attach && !sub->overflowed() && !sub->ended() &&
                sub->queued() > mark)
                return true;
        return false;
    }

    void to_log(auto&& write) {
        if (!log) return;
        try {
            write(*log);
            if (log_failing) log::info(name, "writing its log {} again", log->path().string());
            log_failing = false;
        } catch (const std::exception& e) {
            // Output is still relayed and kept in the scrollback; say it once per failure streak.
            if (!log_failing) log::warn(name, "log: {}", e.what());
            log_failing = true;
        }
    }

    void deliver(stream from, std::string_view bytes) {
        to_log([&](log_file& l) { l.write(bytes); });
        if (scroll) scroll->append(bytes, from);
        for (auto& s : subs)
            s->push(from, bytes);
    }

    void apply_size(run& r) {
        if (!r.terminal) return;
        try {
            set_size(r.terminal->native_handle(), size.value_or(default_size));
        } catch (const std::exception& e) {
            log::warn(name, "{}", e.what());
        }
    }

    void hand_on(batch& b) {
        if (!b.bytes.empty()) deliver(stream::out, b.bytes);
        std::string().swap(b.bytes);
    }

    void close_run(run& r) {
        // What a run printed goes out before its end is marked.
        if (r.held) {
            hand_on(*r.held);
            r.held->closed = true;
            r.held->timer.cancel();
        }
        r.ended = true;
        room.notify();
        std::error_code ec;
        for (auto* d : {&r.terminal, &r.out, &r.err, &r.in})
            if (*d) (*d)->close(ec);
        input.clear();
        input_bytes = 0;
        input_space.notify();
    }
};

namespace {
void hand_on_later(const std::shared_ptr<hub::state>& s, const std::shared_ptr<batch>& b) {
    if (b->armed) return;
    b->armed = true;
    b->timer.expires_after(batch_delay);
    b->timer.async_wait([s, b](std::error_code ec) {
        b->armed = false;
        if (!ec && !b->closed) s->hand_on(*b);
    });
}

// An attach client that still reads is too far behind: wait (as a local terminal's writer
// would) until it is back under low_water, or the run ends.
asio::awaitable<void> room_to_go_on(hub::state& s, run& r) {
    while (s.held_back() && !r.ended) {
        s.paused = true;
        co_await s.room.wait();
    }
    s.paused = false;
}

void end_drain(hub::state& s, run& r) {
    --r.open_outputs;
    s.drained.notify();
}

// A terminal is read by Asio, one read per step: async_read_some tries the read at once and
// posts what it finds (others get their turn between reads), and only a read that finds nothing
// waits for the next epoll edge. An async_wait instead is re-armed with epoll_ctl(MOD) each time,
// and polling a terminal waits for its flush worker (~8 % of the supervisor's relay samples).
asio::awaitable<void> drain_terminal(std::shared_ptr<hub::state> s, std::shared_ptr<run> r,
                                     std::shared_ptr<descriptor> d) {
    auto b = r->held;
    // Its own, since Asio reads into it before this coroutine runs; one terminal read's worth.
    auto buf = std::make_unique<std::array<char, 4096>>();
    for (;;) {
        co_await room_to_go_on(*s, *r);
        if (r->ended) break;
        auto [ec, n] = co_await d->async_read_some(asio::buffer(*buf), ctr::as_tuple_awaitable);
        // EIO: the last slave fd closed; operation_aborted: end() closed it. A read completed
        // after end() marked the run is not the run's any more.
        if (ec || r->ended) break;
        std::string_view got(buf->data(), n);
        if (b->bytes.empty() && n < small_output) {
            s->deliver(stream::out, got);
            continue;
        }
        if (b->bytes.empty()) b->bytes.reserve(hand_on_batch + buf->size());
        b->bytes.append(got);
        if (b->bytes.size() >= hand_on_batch)
            s->hand_on(*b);
        else
            hand_on_later(s, b);
    }
    if (!r->ended) s->hand_on(*b);
    b->timer.cancel();
    end_drain(*s, *r);
}

asio::awaitable<void> drain_pipe(std::shared_ptr<hub::state> s, std::shared_ptr<run> r,
                                 std::shared_ptr<descriptor> d, stream from) {
    for (;;) {
        co_await room_to_go_on(*s, *r);
        if (r->ended) break;
        auto [ec] = co_await d->async_wait(descriptor::wait_read, ctr::as_tuple_awaitable);
        if (ec || !d->is_open()) break;
        // Up to the budget, then back through the reactor so others get their turn.
        std::size_t got = 0, handed = 0;
        bool done = false;
        while (got < read_buffer.size()) {
            ssize_t n =
                ::read(d->native_handle(), read_buffer.data() + got, read_buffer.size() - got);
            if (n > 0) {
                got += static_cast<std::size_t>(n);
                // Handed on between reads, so each send is small enough for the socket to take
                // whole, with no copy into the client's queue.
                if (got - handed >= hand_on_batch) {
                    s->deliver(from, {read_buffer.data() + handed, got - handed});
                    handed = got;
                }
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else {
                // 0: EOF; EAGAIN: all read.
                done = n == 0 || errno != EAGAIN;
                break;
            }
        }
        if (got > handed) s->deliver(from, {read_buffer.data() + handed, got - handed});
        if (done) break;
    }
    end_drain(*s, *r);
}

asio::awaitable<void> write_queued(std::shared_ptr<hub::state> s, std::shared_ptr<run> r) {
    s->writing = true;
    while (!s->input.empty() && !r->ended) {
        auto& d = r->terminal ? *r->terminal : *r->in;
        auto [ec, n] =
            co_await asio::async_write(d, asio::buffer(s->input.front()), ctr::as_tuple_awaitable);
        if (ec) break; // the process closed its input, or the run ended
        s->input_bytes -= s->input.front().size();
        s->input.pop_front();
        s->input_space.notify();
    }
    if (r->ended || !s->input.empty()) {
        s->input.clear();
        s->input_bytes = 0;
    }
    s->writing = false;
    s->input_space.notify();
}

void spawn_logged(hub::state& s, asio::awaitable<void> a, const char* what) {
    asio::co_spawn(s.ex, std::move(a), log_escape(s.name, what));
}
} // namespace

hub::hub(asio::any_io_executor ex, std::string name, std::optional<log_file> log,
         std::size_t scrollback_bytes)
    : s_(std::make_shared<state>(ex, std::move(name), std::move(log), scrollback_bytes)) {}

hub::~hub() {
    if (s_->current) s_->close_run(*s_->current);
    for (auto& sub : s_->subs)
        sub->end(run_end{});
}

void hub::close(run_end why) {
    for (auto& sub : s_->subs)
        sub->end(why);
    s_->subs.clear();
    s_->room.notify();
}

void hub::set_log_limits(log_limits l) {
    s_->to_log([&](log_file& f) { f.set_limits(l); });
}

void hub::mark(std::string_view marker) {
    s_->to_log([&](log_file& l) { l.mark(marker); });
    std::string line;
    for (auto& sub : s_->subs) {
        if (sub->what() != subscriber::kind::follow) continue;
        if (line.empty()) line = marker_line(marker);
        sub->push(stream::out, line);
    }
}

void hub::begin(run_io io, std::string_view marker) {
    if (s_->current && !s_->current->ended) s_->close_run(*s_->current);
    mark(marker);
    auto r = std::make_shared<run>();
    auto adopt = [&](unique_fd& fd, const char* what) {
        set_nonblocking(fd.get(), what);
        return std::make_shared<descriptor>(s_->ex, fd.release());
    };
    if (io.terminal) r->terminal = adopt(io.terminal, "terminal master");
    if (io.out) r->out = adopt(io.out, "stdout pipe");
    if (io.err) r->err = adopt(io.err, "stderr pipe");
    if (io.in) r->in = adopt(io.in, "stdin pipe");
    s_->current = r;
    s_->apply_size(*r);
    if (r->terminal) {
        ++r->open_outputs;
        r->held = std::make_shared<batch>(s_->ex);
        spawn_logged(*s_, drain_terminal(s_, r, r->terminal), "terminal drain");
    }
    for (auto [d, from] : {std::pair{r->out, stream::out}, std::pair{r->err, stream::err}}) {
        if (!d) continue;
        ++r->open_outputs;
        spawn_logged(*s_, drain_pipe(s_, r, d, from), "output drain");
    }
}

asio::awaitable<void> hub::end(run_end how, std::string_view marker,
                               std::chrono::milliseconds drain_limit) {
    auto s = s_;
    if (auto r = s->current) {
        // A daemonised grandchild may hold a pipe open; its output after this is not the run's.
        asio::steady_timer deadline(s->ex, drain_limit);
        while (r->open_outputs > 0 && std::chrono::steady_clock::now() < deadline.expiry())
            co_await (s->drained.wait() || deadline.async_wait(ctr::as_tuple_awaitable));
        s->close_run(*r);
    }
    std::string text(marker);
    mark(text);
    for (auto it = s->subs.begin(); it != s->subs.end();) {
        if ((*it)->what() == subscriber::kind::attach) {
            (*it)->end(how);
            it = s->subs.erase(it);
        } else {
            ++it;
        }
    }
}

std::shared_ptr<subscriber> hub::subscribe(subscriber::kind k, bool replay, std::size_t limit) {
    auto sub = std::make_shared<subscriber>(s_->ex, k, limit);
    if (k == subscriber::kind::attach) sub->room_ = &s_->room;
    if (replay && s_->scroll)
        for (auto& p : s_->scroll->pieces())
            sub->push(p.from, p.bytes);
    s_->subs.push_back(sub);
    return sub;
}

void hub::unsubscribe(const std::shared_ptr<subscriber>& sub) {
    sub->room_ = nullptr;
    s_->subs.remove(sub);
    s_->room.notify();
}

bool hub::running() const {
    return s_->current && !s_->current->ended;
}

bool hub::has_terminal() const {
    return running() && s_->current->terminal;
}

bool hub::takes_input() const {
    return running() && (s_->current->terminal || s_->current->in);
}

asio::awaitable<void> hub::write_input(std::string bytes) {
    auto s = s_;
    auto r = s->current;
    while (r && !r->ended && s->input_bytes > input_limit)
        co_await s->input_space.wait();
    if (!r || r->ended || !(r->terminal || r->in) || bytes.empty()) co_return;
    s->input_bytes += bytes.size();
    s->input.push_back(std::move(bytes));
    if (!s->writing) spawn_logged(*s, write_queued(s, r), "input writer");
}

void hub::close_input() {
    if (!running() || !s_->current->in) return;
    std::error_code ec;
    s_->current->in->close(ec);
}

void hub::resize(window_size ws) {
    if (ws.rows == 0 || ws.cols == 0) return;
    s_->size = ws;
    if (running()) s_->apply_size(*s_->current);
}

} // namespace ctr::tty
