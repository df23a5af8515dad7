#include "ctr/control/client.hpp"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <system_error>

#include "ctr/config/config.hpp"
#include "ctr/core/error.hpp"

namespace ctr::control {

namespace {

using std::chrono::milliseconds;

// Long enough that only a wedged supervisor hits it, short enough that scripts do not hang.
constexpr milliseconds quick_timeout{60'000};
// Slack on top of a stop or wait timeout for the supervisor's own reaping and reply.
constexpr milliseconds slow_margin{30'000};

std::string errno_text(int err) {
    return std::generic_category().message(err);
}

std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}

// Zero in SO_RCVTIMEO/SO_SNDTIMEO means "no limit", which is what nullopt asks for.
void set_timeout(int fd, int option, std::optional<milliseconds> timeout) {
    timeval tv{};
    if (timeout) {
        tv.tv_sec = timeout->count() / 1000;
        tv.tv_usec = timeout->count() % 1000 * 1000;
    }
    if (::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv) != 0)
        fail("setsockopt on the control socket: {}", errno_text(errno));
}

std::optional<milliseconds> plus_margin(const nlohmann::json& request) {
    // Beyond this a limit is the same as none, and adding the margin must not overflow.
    constexpr std::int64_t far = 1'000'000'000'000;
    auto t = request.find("timeout_ms");
    if (t == request.end() || !t->is_number_integer()) return std::nullopt;
    if (t->is_number_unsigned() && t->get<std::uint64_t>() > std::uint64_t{far})
        return std::nullopt;
    auto ms = t->get<std::int64_t>();
    if (ms < 0 || ms > far) return std::nullopt;
    return milliseconds(ms) + slow_margin;
}

} // namespace

std::filesystem::path socket_path(std::optional<std::string> cli_value) {
    if (cli_value && !cli_value->empty()) return *cli_value;
    if (const char* env = std::getenv("CTR_SOCKET"); env && *env) return env;
    return config::default_socket;
}

std::optional<milliseconds> response_timeout(const nlohmann::json& request) {
    auto op = request.find("op");
    if (op == request.end() || !op->is_string()) return quick_timeout;
    if (*op == "stop" || *op == "wait") return plus_margin(request);
    if (*op == "restart") return std::nullopt;
    return quick_timeout;
}

client::client(const std::filesystem::path& socket) : path_(socket) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string& p = path_.native();
    if (p.empty() || p.size() >= sizeof addr.sun_path)
        fail("cannot connect to {}: the path is empty or longer than {} bytes", p,
             sizeof addr.sun_path - 1);
    std::memcpy(addr.sun_path, p.data(), p.size());

    fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd_) fail("cannot create a socket: {}", errno_text(errno));
    // A blocking connect waits while the supervisor's backlog is full, bounded by SO_SNDTIMEO.
    set_timeout(fd_.get(), SO_SNDTIMEO, quick_timeout);
    if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        int err = errno;
        const char* hint = "";
        if (err == ENOENT || err == ECONNREFUSED) hint = " (is ctr-supervisor running?)";
        if (err == EACCES) hint = " (the control socket is for root)";
        fail("cannot connect to {}: {}{}", p, errno_text(err), hint);
    }
}

nlohmann::json client::call(const nlohmann::json& request) {
    // Replacing invalid UTF-8 (a name typed in some other encoding) beats refusing to send.
    std::string payload = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    try {
        send_all(encode_frame(frame_type::request, payload));
    } catch (const protocol_error& e) {
        fail("cannot send the request: {}", e.what());
    }
    frame f = receive(response_timeout(request));
    if (f.type != frame_type::response)
        fail("{}: expected a response frame, got type {}", path_.native(),
             static_cast<int>(f.type));

    auto response = nlohmann::json::parse(f.payload, nullptr, false);
    if (response.is_discarded() || !response.is_object())
        fail("{}: the response is not a JSON object", path_.native());
    auto ok = response.find("ok");
    if (ok == response.end() || !ok->is_boolean())
        fail("{}: the response has no \"ok\"", path_.native());
    if (!ok->get<bool>()) {
        auto e = response.find("error");
        if (e == response.end() || !e->is_string() || e->get_ref<const std::string&>().empty())
            fail("the request failed without saying why");
        fail("{}", one_line(e->get<std::string>()));
    }
    return response;
}

void client::send_all(std::string_view bytes) {
    while (!bytes.empty()) {
        // MSG_NOSIGNAL: a supervisor that went away is an error message, not a SIGPIPE death.
        ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("cannot send to {}: {}", path_.native(), errno_text(errno));
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

frame client::receive(std::optional<milliseconds> timeout) {
    set_timeout(fd_.get(), SO_RCVTIMEO, timeout);
    std::array<char, 64 * 1024> buf;
    while (true) {
        try {
            if (auto f = decoder_.next()) return std::move(*f);
        } catch (const protocol_error& e) {
            fail("{}: bad response: {}", path_.native(), e.what());
        }
        ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            fail("no response from {} within {}s", path_.native(),
                 timeout ? timeout->count() / 1000 : 0);
        if (n < 0) fail("cannot receive from {}: {}", path_.native(), errno_text(errno));
        if (n == 0) fail("{}: the supervisor closed the connection", path_.native());
        decoder_.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
}

} // namespace ctr::control
