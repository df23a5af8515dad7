#include "tty_bench/stream_reader.hpp"

#include "net_bench/host.hpp"
#include <algorithm>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>

#include "ctr/core/error.hpp"

namespace ctr::bench {

using control::frame_type;

void frame_counter::feed(const char* bytes, std::size_t n) {
    while (n > 0) {
        if (header_have_ < header_.size()) {
            std::size_t take = std::min(n, header_.size() - header_have_);
            std::memcpy(header_.data() + header_have_, bytes, take);
            header_have_ += take;
            bytes += take;
            n -= take;
            if (header_have_ < header_.size()) return;
            auto h = control::decode_header(std::span<const std::uint8_t, control::header_size>(
                header_.data(), control::header_size));
            type_ = h.type;
            remaining_ = h.length;
            kept_.clear();
            if (remaining_ == 0) frame_done();
            continue;
        }
        std::size_t take = std::min(n, remaining_);
        if (type_ == frame_type::stdout_data || type_ == frame_type::stderr_data)
            data_bytes += take;
        else
            kept_.append(bytes, take);
        bytes += take;
        n -= take;
        remaining_ -= take;
        if (remaining_ == 0) frame_done();
    }
}

void frame_counter::frame_done() {
    ++frames;
    header_have_ = 0;
    switch (type_) {
    case frame_type::response:
        response = kept_;
        break;
    case frame_type::exit:
        exit = kept_;
        break;
    case frame_type::error:
        error = kept_;
        break;
    default:
        break;
    }
}

stream_connection::stream_connection(const std::filesystem::path& socket) {
    fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd_) throw_errno("socket(AF_UNIX)");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket.native().size() >= sizeof addr.sun_path)
        fail("socket path {} too long", socket.string());
    std::strcpy(addr.sun_path, socket.c_str());
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw_errno("connect({})", socket.string());
}

void stream_connection::send(frame_type type, std::string_view payload) {
    auto bytes = control::encode_frame(type, payload);
    for (std::size_t done = 0; done < bytes.size();) {
        ssize_t n = ::send(fd_.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_errno("send(control socket)");
        done += static_cast<std::size_t>(n);
    }
}

std::string stream_connection::request(std::string_view request, frame_counter& counter) {
    send(frame_type::request, request);
    while (!counter.response && !counter.error)
        if (!receive(counter)) fail("the supervisor hung up before it answered");
    if (counter.error) fail("the supervisor answered with an error frame: {}", *counter.error);
    return *counter.response;
}

bool stream_connection::receive(frame_counter& counter) {
    for (;;) {
        ssize_t n = ::recv(fd_.get(), buf_.data(), buf_.size(), 0);
        if (n < 0 && errno == EINTR) {
            throw_if_interrupted();
            continue;
        }
        if (n < 0) throw_errno("recv(control socket)");
        if (n == 0) return false;
        counter.feed(buf_.data(), static_cast<std::size_t>(n));
        return true;
    }
}

} // namespace ctr::bench
