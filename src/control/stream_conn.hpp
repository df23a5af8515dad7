// One stream connection's shared state, private to src/control. The pump coroutine owns its
// writes (it lends the hub a direct sink that writes whole frames while nothing is queued or in
// flight); the reader coroutine and the run's end only tell it, through finish() and the
// subscriber, what to do.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/local/stream_protocol.hpp>
#include <nlohmann/json.hpp>

#include "ctr/tty/hub.hpp"

namespace ctr::control {

struct stream_conn {
    explicit stream_conn(asio::local::stream_protocol::socket s) : sock(std::move(s)) {}

    // The client detached or hung up (no `why`), or sent something wrong (`why`, sent back in an
    // error frame). The pump stops at its next frame boundary.
    void finish(std::string why = {});

    asio::local::stream_protocol::socket sock;
    std::shared_ptr<tty::subscriber> sub;
    std::string who; // "attach to web-1", for the supervisor's log
    std::string error;
    bool done = false;
};

// How long one frame may wait on a client that reads nothing before the client is dropped.
inline constexpr std::chrono::milliseconds stall_limit{1000};

// Sends the subscriber's output, then its run's end as an exit frame; stops early on finish()
// or when the client falls behind by more than the subscriber's limit.
asio::awaitable<void> pump(std::shared_ptr<stream_conn> c);

// The client's frames into `hub` until it detaches, hangs up or sends something wrong. `signal`
// delivers a signal frame; close_stdin frames close the hub's input only with `closes_input`.
// Whatever `signal` captures stays alive as long as this runs.
asio::awaitable<void> relay_input(std::shared_ptr<stream_conn> c, tty::hub& hub,
                                  std::function<void(int)> signal, bool closes_input);

nlohmann::json exit_json(const tty::run_end& e);

// A {"ok": false} answer, sent before the connection is dropped.
asio::awaitable<void> refuse(asio::local::stream_protocol::socket& sock, const std::string& why);

} // namespace ctr::control
