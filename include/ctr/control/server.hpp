// The control socket: a Unix stream socket whose clients (ctrctl) send framed JSON requests
// (see protocol.hpp). Each connection is one coroutine; a bad or slow client only ever ends its
// own connection.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>

#include "ctr/supervise/supervisor.hpp"

namespace ctr::control {

class server {
  public:
    // Binds the socket (directory 0700, socket 0600; with `group`, 0710 and 0660 owned by that
    // group). A live socket of another supervisor is never unlinked; a stale one from a crashed
    // run is replaced.
    server(asio::io_context& io, supervise::supervisor& sup, std::filesystem::path socket,
           const std::string& group = {});
    ~server();

    asio::awaitable<void> accept_loop();
    // Stops accepting and removes the socket file.
    void close();

  private:
    asio::awaitable<void> session(asio::local::stream_protocol::socket sock);
    // Root, or a member of the socket group, by the kernel's word (SO_PEERCRED, SO_PEERGROUPS),
    // not only by the file's mode. Returns why not, or nothing.
    std::optional<std::string> refuse(asio::local::stream_protocol::socket& sock) const;

    asio::io_context& io_;
    supervise::supervisor& sup_;
    std::filesystem::path path_;
    asio::local::stream_protocol::acceptor acceptor_;
    bool bound_ = false;
    std::optional<gid_t> group_;
};

} // namespace ctr::control
