#include "stream_conn.hpp"

#include "frame_io.hpp"
#include <sys/socket.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "ctr/control/stream.hpp"
#include "ctr/core/awaitable.hpp"
#include "ctr/core/log.hpp"
#include "ctr/core/scope_guard.hpp"

namespace ctr::control {

using namespace asio::experimental::awaitable_operators;

void stream_conn::finish(std::string why) {
    if (!done) {
        done = true;
        error = std::move(why);
    }
    if (sub) sub->wake().notify();
}

nlohmann::json exit_json(const tty::run_end& e) {
    using nlohmann::json;
    json j{{"exit_code", nullptr},
           {"signal", nullptr},
           {"reason", e.reason.empty() ? json(nullptr) : json(e.reason)},
           {"error", e.error.empty() ? json(nullptr) : json(e.error)}};
    if (e.exit) {
        if (e.exit->exited())
            j["exit_code"] = e.exit->code;
        else
            j["signal"] = sys::signal_name(e.exit->signal);
    }
    return j;
}

asio::awaitable<void> relay_input(std::shared_ptr<stream_conn> c, tty::hub& hub,
                                  std::function<void(int)> signal, bool closes_input) {
    for (;;) {
        auto r = co_await read_frame(c->sock);
        if (!r.got) {
            c->finish(r.error);
            co_return;
        }
        auto& f = *r.got;
        if (!client_may_send(f.type)) {
            c->finish(fmt::format("unexpected frame of type {}", static_cast<int>(f.type)));
            co_return;
        }
        try {
            switch (f.type) {
            case frame_type::stdin_data:
                co_await hub.write_input(std::move(f.payload));
                break;
            case frame_type::resize:
                hub.resize(decode_resize(f.payload));
                break;
            case frame_type::signal:
                signal(decode_signal(f.payload));
                break;
            case frame_type::close_stdin:
                if (closes_input) hub.close_input();
                break;
            default: // detach
                c->finish();
                co_return;
            }
        } catch (const protocol_error& e) {
            c->finish(e.what());
            co_return;
        }
    }
}

asio::awaitable<void> refuse(asio::local::stream_protocol::socket& sock, const std::string& why) {
    // Built outside the co_await: GCC 12 miscompiles braced JSON temporaries inside one.
    std::string answer = nlohmann::json{{"ok", false}, {"error", why}}.dump();
    co_await write_frame(sock, frame_type::response, answer);
}

namespace {
asio::awaitable<void> until_overflow(tty::subscriber& sub) {
    while (!sub.overflowed())
        co_await sub.wake().wait();
}

// What the pump and the hub's direct sends share: the unsent end of the last frame, which must go
// out before anything else.
struct outgoing {
    std::string rest;
    bool writing = false; // an async write of `rest` is in flight
    bool broken = false;  // the client is gone
};

// Sends one frame as far as the socket takes it now, keeping what it did not take in `out.rest`.
void send_now(stream_conn& c, outgoing& out, tty::stream from, std::string_view bytes) {
    auto type = from == tty::stream::out ? frame_type::stdout_data : frame_type::stderr_data;
    auto head = encode_header(type, bytes.size());
    std::array<asio::const_buffer, 2> frame{asio::buffer(head), asio::buffer(bytes)};
    std::error_code ec;
    std::size_t sent = c.sock.write_some(frame, ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
        out.broken = true;
        return;
    }
    if (sent == head.size() + bytes.size()) return;
    if (sent < head.size()) out.rest.append(head.data() + sent, head.size() - sent);
    out.rest.append(bytes.substr(sent < head.size() ? 0 : sent - head.size()));
}
} // namespace

asio::awaitable<void> pump(std::shared_ptr<stream_conn> c) {
    auto& sub = *c->sub;
    std::error_code nb;
    c->sock.non_blocking(true, nb); // for the direct writes below; async ones work either way
    outgoing out;
    // The hub's drain sends output as it reads it while the socket takes it: no copy into the
    // queue and no wake-up of this coroutine per chunk, and the send overlaps the terminal's
    // refill. Once a frame is left half-sent, output queues until it is out.
    sub.send_directly([&out, &c = *c, &sub](tty::stream from, std::string_view bytes) {
        if (c.done || out.writing || out.broken || !out.rest.empty()) return false;
        send_now(c, out, from, bytes);
        if (out.broken || !out.rest.empty()) sub.wake().notify();
        return true;
    });
    scope_guard unhook([&sub] { sub.send_directly(nullptr); });
    for (;;) {
        if (c->done) break;
        if (out.broken) co_return; // the client is gone
        if (sub.overflowed()) {
            c->error = fmt::format("dropped: more than {} KiB of output unread",
                                   client_queue_limit / 1024);
            break;
        }
        if (!out.rest.empty()) {
            // A client that stops reading: its queue overflows (a follower), or its write stalls
            // (an attach client, whose lag pauses the drain instead of growing the queue).
            asio::steady_timer stall(c->sock.get_executor(), stall_limit);
            out.writing = true;
            auto r = co_await (
                asio::async_write(c->sock, asio::buffer(out.rest), ctr::as_tuple_awaitable) ||
                until_overflow(sub) || stall.async_wait(ctr::as_tuple_awaitable));
            out.writing = false;
            if (r.index() != 0) {
                // Mid-frame: no notice can follow on this stream.
                log::warn("supervisor", "{}: client dropped, {}", c->who,
                          r.index() == 1
                              ? fmt::format("more than {} KiB of output unread",
                                            client_queue_limit / 1024)
                              : fmt::format("it read nothing for {} ms", stall_limit.count()));
                co_return;
            }
            if (std::get<0>(std::get<0>(r))) co_return; // the client is gone
            out.rest.clear();
            continue;
        }
        if (sub.has_data()) {
            // Most frames fit in the socket at once: sent here, without a timer or a coroutine.
            auto chunk = sub.pop();
            send_now(*c, out, chunk.from, chunk.bytes);
            continue;
        }
        if (sub.ended()) {
            co_await write_frame(c->sock, frame_type::exit, exit_json(*sub.ended()).dump());
            co_return;
        }
        co_await sub.wake().wait();
    }
    if (!c->error.empty()) {
        log::warn("supervisor", "{}: {}", c->who, c->error);
        // A direct send may have left a frame half-sent: no notice can follow on this stream.
        if (!out.rest.empty()) co_return;
        // Best effort and never blocking: the client may be the one that stopped reading.
        auto bytes = encode_frame(frame_type::error, c->error);
        std::error_code ec;
        c->sock.non_blocking(true, ec);
        ::send(c->sock.native_handle(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
}

} // namespace ctr::control
