#include "ctr/control/server.hpp"

#include "frame_io.hpp"
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <variant>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "ctr/control/handlers.hpp"
#include "ctr/control/protocol.hpp"
#include "ctr/control/sessions.hpp"
#include "ctr/core/awaitable.hpp"
#include "ctr/core/error.hpp"
#include "ctr/core/log.hpp"
#include "ctr/sys/files.hpp"

namespace ctr::control {

using namespace asio::experimental::awaitable_operators;
using asio::local::stream_protocol;
namespace fs = std::filesystem;

namespace {
constexpr std::chrono::seconds request_deadline{10};
constexpr std::chrono::milliseconds accept_retry{100};

// Someone answers on `path`: a live supervisor, whose socket must never be taken away.
bool someone_listens(const fs::path& path) {
    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw_errno("socket(AF_UNIX)");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

void remove_stale(const fs::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return;
    if (!S_ISSOCK(st.st_mode))
        fail("{} exists and is not a socket; refusing to replace it", path.string());
    if (someone_listens(path)) fail("another ctr-supervisor is listening on {}", path.string());
    log::info("supervisor", "replacing stale socket {}", path.string());
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        throw_errno("unlink(\"{}\")", path.string());
}

// A refusal the client may read; sent without ever blocking the loop on a peer that won't read.
void say_goodbye(stream_protocol::socket& sock, const std::string& why) {
    std::string bye =
        encode_frame(frame_type::response, nlohmann::json{{"ok", false}, {"error", why}}.dump());
    std::error_code ec;
    sock.non_blocking(true, ec);
    sock.send(asio::buffer(bye), 0, ec);
}
} // namespace

server::server(asio::io_context& io, supervise::supervisor& sup, fs::path socket,
               const std::string& group)
    : io_(io), sup_(sup), path_(std::move(socket)), acceptor_(io) {
    if (path_.string().size() >= sizeof(sockaddr_un{}.sun_path))
        fail("socket path {} is too long", path_.string());
    if (!group.empty()) {
        const struct group* g = ::getgrnam(group.c_str());
        if (!g) fail("socket_group: no group named '{}'", group);
        group_ = g->gr_gid;
    }
    bool made_dir = !fs::exists(path_.parent_path());
    sys::make_dirs(path_.parent_path(), 0700);
    // Only a folder made here is opened to the group: an existing one keeps its owner and mode.
    if (group_ && made_dir) {
        if (::chown(path_.parent_path().c_str(), 0, *group_) != 0 ||
            ::chmod(path_.parent_path().c_str(), 0710) != 0)
            throw_errno("chown/chmod(\"{}\")", path_.parent_path().string());
    }
    remove_stale(path_);
    acceptor_.open(stream_protocol());
    // umask can't be trusted: the socket is root's alone from the moment it exists.
    if (::fchmod(acceptor_.native_handle(), 0600) != 0) throw_errno("fchmod(socket)");
    acceptor_.bind(stream_protocol::endpoint(path_.string()));
    bound_ = true;
    if (group_ && ::chown(path_.c_str(), 0, *group_) != 0)
        throw_errno("chown(\"{}\")", path_.string());
    if (::chmod(path_.c_str(), group_ ? 0660 : 0600) != 0)
        throw_errno("chmod(\"{}\")", path_.string());
    acceptor_.listen();
    log::info("supervisor", "listening on {}{}", path_.string(),
              group_ ? fmt::format(" (root and group {})", group) : "");
}

std::optional<std::string> server::refuse(stream_protocol::socket& sock) const {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return fmt::format("getsockopt(SO_PEERCRED): {}", std::strerror(errno));
    if (cred.uid == 0) return std::nullopt;
    if (group_) {
        if (cred.gid == *group_) return std::nullopt;
        gid_t groups[256];
        len = sizeof groups;
        if (::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
            for (std::size_t i = 0; i < len / sizeof(gid_t); ++i)
                if (groups[i] == *group_) return std::nullopt;
    }
    return fmt::format("permission denied: uid {} (pid {}) is not root{}", cred.uid, cred.pid,
                       group_ ? " nor in the socket group" : "");
}

server::~server() {
    close();
}

void server::close() {
    std::error_code ec;
    acceptor_.close(ec);
    if (bound_) {
        ::unlink(path_.c_str());
        bound_ = false;
    }
}

asio::awaitable<void> server::accept_loop() {
    asio::steady_timer pause(io_);
    bool failing = false;
    while (acceptor_.is_open()) {
        auto [ec, sock] = co_await acceptor_.async_accept(ctr::as_tuple_awaitable);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
            // Out of fds or memory: the connection stays queued, so an immediate retry would spin
            // the loop. Say it once, breathe, try again.
            if (!failing) log::warn("supervisor", "accept on control socket: {}", ec.message());
            failing = true;
            pause.expires_after(accept_retry);
            co_await pause.async_wait(ctr::as_tuple_awaitable);
            continue;
        }
        if (failing) log::info("supervisor", "control socket accepts again");
        failing = false;
        asio::co_spawn(io_, session(std::move(sock)), log_escape("supervisor", "control session"));
    }
}

namespace {
// The request in a frame, or why there is none.
std::variant<nlohmann::json, std::string> parse_request(const frame& f) {
    if (f.type != frame_type::request) return std::string("expected a request frame");
    auto req = nlohmann::json::parse(f.payload, nullptr, false);
    if (req.is_discarded()) return std::string("request is not valid JSON");
    return req;
}
} // namespace

asio::awaitable<void> server::session(stream_protocol::socket sock) {
    try {
        for (;;) {
            asio::steady_timer deadline(io_, request_deadline);
            auto got = co_await (read_frame(sock) || deadline.async_wait(ctr::as_tuple_awaitable));
            if (got.index() == 1) {
                say_goodbye(sock, "request not received within 10 s");
                co_return;
            }
            auto& r = std::get<0>(got);
            if (!r.got && r.error.empty()) co_return; // hung up between requests
            auto req = r.got ? parse_request(*r.got) : r.error;
            // Checked once a request came, so the refusal reaches the client as its answer.
            if (auto why = refuse(sock)) {
                log::warn("supervisor", "control client refused: {}", *why);
                say_goodbye(sock, *why);
                co_return;
            }
            if (auto* why = std::get_if<std::string>(&req)) {
                log::warn("supervisor", "control client dropped: {}", *why);
                say_goodbye(sock, *why);
                co_return;
            }
            auto& request = std::get<nlohmann::json>(req);
            // These keep the connection for good: a stream of frames instead of answers.
            if (is_stream_op(request)) {
                co_await serve_stream(std::move(sock), sup_, request);
                co_return;
            }
            auto resp = co_await handle(sup_, request);
            // A client that stops reading its answers loses its connection, not our memory.
            auto bytes = encode_frame(frame_type::response, resp.dump());
            deadline.expires_after(request_deadline);
            auto sent =
                co_await (asio::async_write(sock, asio::buffer(bytes), ctr::as_tuple_awaitable) ||
                          deadline.async_wait(ctr::as_tuple_awaitable));
            if (sent.index() == 1 || std::get<0>(std::get<0>(sent))) co_return;
        }
    } catch (const std::exception&) {
        // A reset or EPIPE while answering: the client is gone.
    }
}

} // namespace ctr::control
