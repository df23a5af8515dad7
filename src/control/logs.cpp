// logs: what a container printed, from its log files; with follow, then its live output and
// markers across restarts until the client hangs up.
#include "frame_io.hpp"
#include "sessions_impl.hpp"
#include "stream_conn.hpp"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>

#include "ctr/control/stream.hpp"
#include "ctr/core/awaitable.hpp"
#include "ctr/core/error.hpp"
#include "ctr/core/scope_guard.hpp"
#include "ctr/core/unique_fd.hpp"

namespace ctr::control {

namespace {
constexpr std::size_t chunk_size = 64 * 1024;

// A log file as it was when the request came: later bytes reach a follower through the hub.
struct snapshot {
    unique_fd fd;
    off_t size = 0;
};

std::vector<snapshot> open_log(const supervise::container& ct) {
    std::vector<snapshot> out;
    for (auto& path : tty::log_files(ct.log_path(), ct.log_limits().max_files)) {
        unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat st {};
        if (!fd || ::fstat(fd.get(), &st) != 0) continue; // rotated away meanwhile
        out.push_back({std::move(fd), st.st_size});
    }
    return out;
}

// Sends the files a chunk at a time, so a long log neither sits in memory nor holds the loop.
asio::awaitable<bool> send_files(asio::local::stream_protocol::socket& sock,
                                 std::vector<snapshot>& files) {
    std::string buf(chunk_size, '\0');
    for (auto& f : files) {
        for (off_t at = 0; at < f.size;) {
            auto want = static_cast<std::size_t>(std::min<off_t>(f.size - at, chunk_size));
            ssize_t n = ::pread(f.fd.get(), buf.data(), want, at);
            if (n <= 0) break; // truncated under us: what is left is gone
            if (!co_await write_frame(sock, frame_type::stdout_data,
                                      std::string_view(buf.data(), static_cast<std::size_t>(n))))
                co_return false;
            at += n;
        }
    }
    co_return true;
}

asio::awaitable<bool> send_text(asio::local::stream_protocol::socket& sock, std::string_view s) {
    for (std::size_t at = 0; at < s.size(); at += chunk_size)
        if (!co_await write_frame(sock, frame_type::stdout_data, s.substr(at, chunk_size)))
            co_return false;
    co_return true;
}

// A follower sends nothing; any frame but detach is a mistake, hanging up the usual end.
asio::awaitable<void> wait_for_leave(std::shared_ptr<stream_conn> c) {
    auto r = co_await read_frame(c->sock);
    if (r.got && r.got->type != frame_type::detach)
        c->finish(fmt::format("unexpected frame of type {}", static_cast<int>(r.got->type)));
    else
        c->finish(r.error);
}
} // namespace

asio::awaitable<void> serve_logs(asio::local::stream_protocol::socket& sock,
                                 supervise::container& ct, const nlohmann::json& req) {
    bool follow = flag(req, "follow", false);
    std::optional<std::size_t> tail;
    if (req.contains("tail") && !req["tail"].is_null()) {
        if (!req["tail"].is_number_unsigned()) fail("\"tail\" must be a number of lines");
        tail = req["tail"].get<std::size_t>();
    }

    // Subscribed before the files are read: nothing written from here on is missed or doubled.
    auto c = std::make_shared<stream_conn>(std::move(sock));
    c->who = fmt::format("logs of {}", ct.config().name);
    auto& hub = ct.terminal();
    if (follow)
        c->sub = hub.subscribe(tty::subscriber::kind::follow, false, 4 * client_queue_limit);
    scope_guard leave([&] {
        if (c->sub) hub.unsubscribe(c->sub);
    });
    std::string text, error;
    std::vector<snapshot> files;
    try {
        if (tail)
            text = tty::read_log(ct.log_path(), ct.log_limits().max_files, *tail);
        else
            files = open_log(ct);
    } catch (const std::exception& e) {
        error = e.what();
    }
    if (!error.empty()) {
        co_await refuse(c->sock, error);
        co_return;
    }
    if (!co_await write_frame(c->sock, frame_type::response, R"({"ok":true,"tty":false})"))
        co_return;
    if (!(tail ? co_await send_text(c->sock, text) : co_await send_files(c->sock, files)))
        co_return;
    if (!follow) co_return; // closing the socket is the end of the log

    asio::co_spawn(c->sock.get_executor(), wait_for_leave(c), log_escape("supervisor", c->who));
    co_await pump(c);
    std::error_code ec;
    c->sock.close(ec);
}

} // namespace ctr::control
