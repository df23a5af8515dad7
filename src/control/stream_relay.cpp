#include "stream_relay.hpp"

#include "wire.hpp"
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "ctr/control/format.hpp"
#include "ctr/control/stream.hpp"
#include "ctr/core/error.hpp"
#include "ctr/tty/detach_keys.hpp"

namespace ctr::control::stream {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t chunk = 64 * 1024;
// Stdin is read only while less than this waits to go out, so a supervisor slow to take our
// input never makes us buffer a whole file.
constexpr std::size_t input_high_water = 256 * 1024;
constexpr milliseconds finish_limit{1000};

void set_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        fail("fcntl(O_NONBLOCK) on the control socket: {}", wire::errno_text(errno));
}

// Writes all of `bytes` to our stdout or stderr. False when its reader went away (EPIPE).
// Blocking: a stdout that does not take bytes holds the relay, and past its queue limit the
// supervisor drops us, which is the protocol's answer to a stuck client.
bool write_output(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n >= 0) {
            bytes.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EPIPE) return false;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            // Someone else made the file description non-blocking; wait the way a blocking
            // write would, without changing it under them.
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, -1);
            continue;
        }
        fail("cannot write to {}: {}", fd == STDERR_FILENO ? "stderr" : "stdout",
             wire::errno_text(errno));
    }
    return true;
}

std::string signal_name(const nlohmann::json& sig) {
    if (sig.is_string()) return sig.get<std::string>();
    int n = sig.get<int>();
    if (const char* abbrev = ::sigabbrev_np(n)) return fmt::format("SIG{}", abbrev);
    return fmt::format("signal {}", n);
}

// 0 unless it names a signal between 1 and 64.
int signal_number(const nlohmann::json& sig) {
    std::int64_t n = 0;
    if (sig.is_number_integer()) {
        // JSON's positive numbers come as unsigned; anything past 64 is no signal anyway.
        n = sig.is_number_unsigned()
                ? static_cast<std::int64_t>(std::min<std::uint64_t>(sig.get<std::uint64_t>(), 65))
                : sig.get<std::int64_t>();
    } else if (sig.is_string()) {
        try {
            n = parse_signal(sig.get<std::string>());
        } catch (const ctr::error&) {
        }
    }
    return n >= 1 && n <= 64 ? static_cast<int>(n) : 0;
}

std::string one_line(std::string s) {
    std::replace_if(
        s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    return s;
}

int poll_timeout(clock::time_point now, clock::time_point deadline) {
    auto left = std::chrono::ceil<milliseconds>(deadline - now).count();
    return static_cast<int>(std::clamp<decltype(left)>(left, 0, 60'000));
}

class session {
  public:
    session(connection& conn, int signal_fd, const relay_policy& p)
        : conn_(conn), signal_fd_(signal_fd), p_(p), reading_(p.read_input) {
        if (!p.detach_keys.empty()) matcher_.emplace(p.detach_keys);
    }

    int run() {
        if (auto code = take_frames()) return *code;
        while (true) {
            int timeout = -1;
            if (input_ended_) {
                auto now = clock::now();
                auto deadline = std::min(last_output_ + settle_quiet, *input_ended_ + settle_limit);
                if (now >= deadline) return leave(0, false);
                timeout = poll_timeout(now, deadline);
            }

            std::array<pollfd, 3> fds{};
            fds[0] = {conn_.fd(), static_cast<short>(POLLIN | (conn_.queued() ? POLLOUT : 0)), 0};
            fds[1] = {signal_fd_, POLLIN, 0};
            bool poll_input = reading_ && conn_.queued() < input_high_water;
            fds[2] = {poll_input ? STDIN_FILENO : -1, POLLIN, 0};
            if (::poll(fds.data(), fds.size(), timeout) < 0) {
                if (errno == EINTR) continue;
                throw_errno("poll");
            }
            if (fds[1].revents) {
                if (auto code = take_signals()) return *code;
            }
            if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                if (auto code = receive()) return *code;
            }
            if (fds[0].revents & POLLOUT) conn_.flush_some();
            if (fds[2].revents) {
                if (auto code = take_input()) return *code;
            }
        }
    }

  private:
    std::optional<int> take_signals() {
        signalfd_siginfo si{};
        while (true) {
            ssize_t n = ::read(signal_fd_, &si, sizeof si);
            if (n < 0 && errno == EINTR) continue;
            if (n != static_cast<ssize_t>(sizeof si)) return std::nullopt; // EAGAIN: all taken
            int sig = static_cast<int>(si.ssi_signo);
            if (sig == SIGWINCH) {
                if (p_.remote_tty)
                    if (auto ws = local_size()) conn_.queue(frame_type::resize, encode_resize(*ws));
                continue;
            }
            switch (p_.on_signal) {
            case relay_policy::signals::detach:
                return leave(128 + sig, false);
            case relay_policy::signals::forward:
                conn_.queue(frame_type::signal, encode_signal(sig));
                continue;
            case relay_policy::signals::stop:
                return sig == SIGINT || sig == SIGTERM ? 0 : 128 + sig;
            }
        }
    }

    std::optional<int> receive() {
        std::array<char, chunk> buf;
        ssize_t n = ::recv(conn_.fd(), buf.data(), buf.size(), 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
            throw error("lost connection to the supervisor: " + wire::errno_text(errno));
        }
        if (n == 0) {
            if (p_.eof_is_end) return 0;
            throw error("lost connection to the supervisor");
        }
        conn_.decoder().feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        return take_frames();
    }

    std::optional<int> take_frames() {
        while (true) {
            std::optional<frame> f;
            try {
                f = conn_.decoder().next();
            } catch (const protocol_error& e) {
                fail("{}: bad frame from the supervisor: {}", conn_.socket().native(), e.what());
            }
            if (!f) return std::nullopt;
            switch (f->type) {
            case frame_type::stdout_data:
            case frame_type::stderr_data:
                last_output_ = clock::now();
                if (!write_output(f->type == frame_type::stdout_data ? STDOUT_FILENO
                                                                     : STDERR_FILENO,
                                  f->payload))
                    return output_closed();
                break;
            case frame_type::exit:
                return exited(f->payload);
            case frame_type::error:
                throw error(f->payload.empty() ? "the supervisor ended the stream with an error"
                                               : one_line(f->payload));
            default:
                fail("{}: unexpected frame of type {} from the supervisor", conn_.socket().native(),
                     static_cast<int>(f->type));
            }
        }
    }

    std::optional<int> take_input() {
        std::array<char, chunk> buf;
        ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            return std::nullopt;
        // An error (EIO: the terminal hung up) ends input the same way EOF does.
        if (n <= 0) return input_ended();
        std::string_view in(buf.data(), static_cast<std::size_t>(n));
        if (!matcher_) {
            conn_.queue(frame_type::stdin_data, in);
            return std::nullopt;
        }
        auto r = matcher_->feed(in);
        if (!r.forward.empty()) conn_.queue(frame_type::stdin_data, r.forward);
        if (r.detach) return leave(0, true);
        return std::nullopt;
    }

    std::optional<int> input_ended() {
        reading_ = false;
        if (matcher_)
            if (auto held = matcher_->flush(); !held.empty())
                conn_.queue(frame_type::stdin_data, held);
        if (p_.at_input_end == relay_policy::input_end::close_stdin) {
            conn_.queue(frame_type::close_stdin, {});
        } else {
            input_ended_ = clock::now();
            last_output_ = *input_ended_;
        }
        return std::nullopt;
    }

    int leave(int code, bool by_keys) {
        conn_.queue(frame_type::detach, {});
        conn_.finish(finish_limit);
        if (p_.raw) p_.raw->restore();
        if (by_keys) fmt::print(stderr, "\n[detached from {}]\n", p_.name);
        return code;
    }

    int output_closed() {
        // Like `| head`: no message. attach detaches (the container keeps running); logs and
        // exec just hang up, and for exec that ends the process.
        if (p_.on_signal == relay_policy::signals::detach)
            return leave(p_.output_closed_code, false);
        return p_.output_closed_code;
    }

    int exited(const std::string& payload) {
        auto j = nlohmann::json::parse(payload, nullptr, false);
        if (!j.is_object())
            fail("{}: the exit frame is not a JSON object", conn_.socket().native());
        if (p_.raw) p_.raw->restore();
        exit_status st = describe_exit(p_.name, j);
        if (p_.report_exit) {
            fmt::print(stderr, "{}\n", st.message);
        } else if (auto e = j.find("error");
                   e != j.end() && e->is_string() && !e->get_ref<const std::string&>().empty()) {
            fmt::print(stderr, "ctrctl: {}\n", one_line(e->get<std::string>()));
        }
        return st.code;
    }

    connection& conn_;
    int signal_fd_;
    const relay_policy& p_;
    bool reading_;
    std::optional<tty::detach_matcher> matcher_;
    std::optional<clock::time_point> input_ended_;
    clock::time_point last_output_{};
};

} // namespace

signal_scope::signal_scope() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT})
        sigaddset(&set, s);
    if (int err = ::pthread_sigmask(SIG_BLOCK, &set, &old_mask_); err != 0)
        throw_sys(err, "pthread_sigmask(SIG_BLOCK)");
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    if (::sigaction(SIGPIPE, &ignore, &old_pipe_) != 0) {
        int err = errno;
        ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
        throw_sys(err, "sigaction(SIGPIPE)");
    }
    fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd_) {
        int err = errno;
        ::sigaction(SIGPIPE, &old_pipe_, nullptr);
        ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
        throw_sys(err, "signalfd");
    }
}

signal_scope::~signal_scope() {
    ::sigaction(SIGPIPE, &old_pipe_, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

connection::connection(const std::filesystem::path& socket)
    : path_(socket), fd_(wire::connect_to(socket)) {}

nlohmann::json connection::open(const nlohmann::json& request) {
    wire::send_all(fd_.get(), wire::request_frame(request), path_);
    auto response =
        wire::check_response(wire::receive(fd_.get(), decoder_, wire::quick_timeout, path_), path_);
    set_nonblocking(fd_.get());
    return response;
}

void connection::queue(frame_type type, std::string_view payload) {
    if (sent_ == out_.size()) {
        out_.clear();
        sent_ = 0;
    }
    // Our stdin reads are far smaller than max_frame, so encoding cannot refuse them.
    out_ += encode_frame(type, payload);
}

void connection::flush_some() {
    while (sent_ < out_.size()) {
        ssize_t n = ::send(fd_.get(), out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            throw error("lost connection to the supervisor: " + wire::errno_text(errno));
        }
        sent_ += static_cast<std::size_t>(n);
    }
}

void connection::finish(milliseconds limit) noexcept {
    auto deadline = clock::now() + limit;
    try {
        while (queued()) {
            pollfd p{fd_.get(), POLLOUT, 0};
            if (::poll(&p, 1, poll_timeout(clock::now(), deadline)) <= 0) return;
            flush_some();
        }
    } catch (const error&) {
        return; // it went away: nothing left to say
    }
    ::shutdown(fd_.get(), SHUT_WR);
    std::array<char, chunk> buf;
    while (clock::now() < deadline) {
        pollfd p{fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, poll_timeout(clock::now(), deadline)) <= 0) return;
        ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return;
    }
}

int relay(connection& conn, int signal_fd, const relay_policy& policy) {
    return session(conn, signal_fd, policy).run();
}

exit_status describe_exit(std::string_view name, const nlohmann::json& exit) {
    exit_status st;
    auto field = [&](const char* key) {
        auto it = exit.find(key);
        return it == exit.end() || it->is_null() ? nlohmann::json() : *it;
    };
    nlohmann::json sig = field("signal"), code = field("exit_code"), reason = field("reason"),
                   err = field("error");
    std::string suffix;
    if (reason.is_string() && !reason.get_ref<const std::string&>().empty())
        suffix = fmt::format(" ({})", reason.get<std::string>());
    if (err.is_string() && !err.get_ref<const std::string&>().empty())
        suffix += ": " + one_line(err.get<std::string>());

    if ((sig.is_string() || sig.is_number_integer()) && signal_number(sig) > 0) {
        st.code = 128 + signal_number(sig);
        st.message = fmt::format("{} killed by {}{}", name, signal_name(sig), suffix);
    } else if (code.is_number_integer()) {
        // A shell sees only the low eight bits of an exit status; so does whoever runs ctrctl.
        st.code = static_cast<int>(code.get<std::int64_t>() & 0xff);
        st.message = fmt::format("{} exited with code {}{}", name, st.code, suffix);
    } else {
        st.message = fmt::format("{} exited{}", name, suffix);
    }
    return st;
}

std::optional<tty::window_size> local_size() {
    for (int fd : {STDIN_FILENO, STDOUT_FILENO})
        if (tty::is_terminal(fd))
            if (auto ws = tty::get_size(fd); ws && ws->rows && ws->cols) return ws;
    return std::nullopt;
}

} // namespace ctr::control::stream
