#include "wire.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <system_error>

#include "ctr/core/error.hpp"

namespace ctr::control::wire {

namespace {

using std::chrono::milliseconds;

std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}

} // namespace

std::string errno_text(int err) {
    return std::generic_category().message(err);
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

unique_fd connect_to(const std::filesystem::path& socket) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string& p = socket.native();
    if (p.empty() || p.size() >= sizeof addr.sun_path)
        fail("cannot connect to {}: the path is empty or longer than {} bytes", p,
             sizeof addr.sun_path - 1);
    std::memcpy(addr.sun_path, p.data(), p.size());

    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) fail("cannot create a socket: {}", errno_text(errno));
    // A blocking connect waits while the supervisor's backlog is full, bounded by SO_SNDTIMEO.
    set_timeout(fd.get(), SO_SNDTIMEO, quick_timeout);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        int err = errno;
        const char* hint = "";
        if (err == ENOENT || err == ECONNREFUSED) hint = " (is ctr-supervisor running?)";
        if (err == EACCES) hint = " (the control socket is for root)";
        fail("cannot connect to {}: {}{}", p, errno_text(err), hint);
    }
    return fd;
}

void send_all(int fd, std::string_view bytes, const std::filesystem::path& socket) {
    while (!bytes.empty()) {
        // MSG_NOSIGNAL: a supervisor that went away is an error message, not a SIGPIPE death.
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("cannot send to {}: {}", socket.native(), errno_text(errno));
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string request_frame(const nlohmann::json& request) {
    // Replacing invalid UTF-8 (a name typed in some other encoding) beats refusing to send.
    std::string payload = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    try {
        return encode_frame(frame_type::request, payload);
    } catch (const protocol_error& e) {
        fail("cannot send the request: {}", e.what());
    }
}

frame receive(int fd, frame_decoder& decoder, std::optional<milliseconds> timeout,
              const std::filesystem::path& socket) {
    set_timeout(fd, SO_RCVTIMEO, timeout);
    std::array<char, 64 * 1024> buf;
    while (true) {
        try {
            if (auto f = decoder.next()) return std::move(*f);
        } catch (const protocol_error& e) {
            fail("{}: bad response: {}", socket.native(), e.what());
        }
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            fail("no response from {} within {}s", socket.native(),
                 timeout ? timeout->count() / 1000 : 0);
        if (n < 0) fail("cannot receive from {}: {}", socket.native(), errno_text(errno));
        if (n == 0) fail("{}: the supervisor closed the connection", socket.native());
        decoder.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
}

nlohmann::json check_response(const frame& f, const std::filesystem::path& socket) {
    if (f.type != frame_type::response)
        fail("{}: expected a response frame, got type {}", socket.native(),
             static_cast<int>(f.type));
    auto response = nlohmann::json::parse(f.payload, nullptr, false);
    if (response.is_discarded() || !response.is_object())
        fail("{}: the response is not a JSON object", socket.native());
    auto ok = response.find("ok");
    if (ok == response.end() || !ok->is_boolean())
        fail("{}: the response has no \"ok\"", socket.native());
    if (!ok->get<bool>()) {
        auto e = response.find("error");
        if (e == response.end() || !e->is_string() || e->get_ref<const std::string&>().empty())
            fail("the request failed without saying why");
        fail("{}", one_line(e->get<std::string>()));
    }
    return response;
}

} // namespace ctr::control::wire
