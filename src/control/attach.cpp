// attach: a client joins a container's hub: scrollback, then live output, its input and
// resizes to the container, until it detaches or the run ends.
#include "frame_io.hpp"
#include "sessions_impl.hpp"
#include "stream_conn.hpp"

#include <asio/co_spawn.hpp>

#include "ctr/control/stream.hpp"
#include "ctr/core/awaitable.hpp"
#include "ctr/core/error.hpp"
#include "ctr/core/scope_guard.hpp"

namespace ctr::control {

bool flag(const nlohmann::json& req, const char* key, bool fallback) {
    if (!req.contains(key) || req[key].is_null()) return fallback;
    if (!req[key].is_boolean()) fail("\"{}\" must be true or false", key);
    return req[key].get<bool>();
}

std::optional<tty::window_size> size_of(const nlohmann::json& req) {
    auto get = [&](const char* key) -> std::optional<std::uint16_t> {
        if (!req.contains(key) || req[key].is_null()) return std::nullopt;
        if (!req[key].is_number_unsigned() || req[key].get<std::uint64_t>() > 0xffff)
            fail("\"{}\" must be a number from 0 to 65535", key);
        return req[key].get<std::uint16_t>();
    };
    auto rows = get("rows"), cols = get("cols");
    if (!rows || !cols) return std::nullopt;
    return tty::window_size{*rows, *cols};
}

asio::awaitable<void> serve_attach(asio::local::stream_protocol::socket& sock,
                                   std::shared_ptr<supervise::container> owner,
                                   const nlohmann::json& req) {
    auto& ct = *owner;
    bool replay = flag(req, "replay", true);
    auto size = size_of(req);
    auto& hub = ct.terminal();
    if (!hub.running()) fail("container {} is not running", ct.config().name);

    auto c = std::make_shared<stream_conn>(std::move(sock));
    c->who = fmt::format("attach to {}", ct.config().name);
    if (size) hub.resize(*size);
    c->sub = hub.subscribe(tty::subscriber::kind::attach, replay, client_queue_limit);
    scope_guard leave([&] { hub.unsubscribe(c->sub); });
    nlohmann::json ok{{"ok", true}, {"tty", hub.has_terminal()}};
    if (!co_await write_frame(c->sock, frame_type::response, ok.dump())) co_return;

    // The lambda holds the container, and so its hub, for as long as the reader runs: a frame
    // read before the session ended may still be handled after a reload removed the container.
    auto signal = [owner](int sig) {
        try {
            owner->send_signal(sig);
        } catch (const ctr::error&) {
            // Between runs: nobody to signal, and no reason to drop the client.
        }
    };
    // Others may still type: one client's end of input is not the container's.
    asio::co_spawn(c->sock.get_executor(), relay_input(c, hub, signal, false),
                   log_escape("supervisor", c->who));
    co_await pump(c);
    std::error_code ec;
    c->sock.close(ec); // ends the reader
}

} // namespace ctr::control
