// The control socket: a Unix stream socket whose clients (ctrctl) send framed JSON requests
// (see protocol.hpp). Each connection is one coroutine; a bad or slow client only ever ends its
// own connection.
#pragma once

#include <filesystem>
#include <memory>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>

#include "ctr/supervise/supervisor.hpp"

namespace ctr::control {

class server {
  public:
    // Binds the socket (directory 0700, socket 0600). A live socket of another supervisor is
    // never unlinked; a stale one from a crashed run is replaced.
    server(asio::io_context& io, supervise::supervisor& sup, std::filesystem::path socket);
    ~server();

    asio::awaitable<void> accept_loop();
    // Stops accepting and removes the socket file.
    void close();

  private:
    asio::awaitable<void> session(asio::local::stream_protocol::socket sock);

    asio::io_context& io_;
    supervise::supervisor& sup_;
    std::filesystem::path path_;
    asio::local::stream_protocol::acceptor acceptor_;
    bool bound_ = false;
};

} // namespace ctr::control
