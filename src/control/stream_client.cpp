#include "ctr/control/stream_client.hpp"

#include "stream_relay.hpp"
#include <cstdlib>
#include <exception>
#include <unistd.h>

#include <fmt/format.h>

#include "ctr/core/error.hpp"
#include "ctr/tty/detach_keys.hpp"
#include "ctr/tty/terminal.hpp"

namespace ctr::control {

namespace {

using nlohmann::json;

void add_size(json& request) {
    if (auto ws = stream::local_size()) {
        request["rows"] = ws->rows;
        request["cols"] = ws->cols;
    }
}

std::string detach_sequence(const attach_options& opts) {
    if (!opts.detach_keys.empty()) return tty::parse_detach_keys(opts.detach_keys);
    if (const char* env = std::getenv("CTR_DETACH_KEYS"); env && *env)
        return tty::parse_detach_keys(env);
    return tty::parse_detach_keys(tty::default_detach_keys);
}

// Every command ends the same way on an error: the terminal restored (raw_mode lives inside
// `body`, so its destructor has run by the time we print) and one line on stderr.
template <typename F> int reporting_errors(F body) {
    try {
        return body();
    } catch (const std::exception& e) {
        fmt::print(stderr, "ctrctl: {}\n", e.what());
        return 1;
    }
}

} // namespace

int attach(const std::filesystem::path& socket, const std::string& name,
           const attach_options& opts) {
    return reporting_errors([&] {
        std::string keys = detach_sequence(opts);
        stream::signal_scope signals;
        json request{{"op", "attach"}, {"name", name}, {"replay", opts.replay}};
        add_size(request);
        stream::connection conn(socket);
        json response = conn.open(request);

        stream::relay_policy p;
        p.name = name;
        p.remote_tty = response.value("tty", false);
        p.read_input = true;
        p.at_input_end = stream::relay_policy::input_end::settle_then_detach;
        p.on_signal = stream::relay_policy::signals::detach;
        p.report_exit = true;
        std::optional<tty::raw_mode> raw;
        if (tty::is_terminal(STDIN_FILENO)) {
            p.detach_keys = keys;
            if (p.remote_tty) p.raw = &raw.emplace(STDIN_FILENO);
        }
        return stream::relay(conn, signals.fd(), p);
    });
}

int logs(const std::filesystem::path& socket, const std::string& name, const logs_options& opts) {
    return reporting_errors([&] {
        stream::signal_scope signals;
        json request{{"op", "logs"}, {"name", name}, {"follow", opts.follow}};
        if (opts.tail) request["tail"] = *opts.tail;
        stream::connection conn(socket);
        conn.open(request);

        stream::relay_policy p;
        p.name = name;
        p.on_signal = stream::relay_policy::signals::stop;
        p.eof_is_end = true;
        return stream::relay(conn, signals.fd(), p);
    });
}

int exec(const std::filesystem::path& socket, const std::string& name, const exec_options& opts) {
    return reporting_errors([&] {
        if (opts.argv.empty()) fail("exec: no command given");
        for (const auto& kv : opts.env)
            if (kv.find('=') == std::string::npos || kv.front() == '=')
                fail("exec: environment variable '{}' is not of the form K=V", kv);
        stream::signal_scope signals;
        json request{{"op", "exec"},    {"name", name},    {"argv", opts.argv},
                     {"env", opts.env}, {"tty", opts.tty}, {"stdin", opts.interactive}};
        if (!opts.workdir.empty()) request["workdir"] = opts.workdir;
        if (opts.tty) add_size(request);
        stream::connection conn(socket);
        conn.open(request);

        stream::relay_policy p;
        p.name = name;
        p.remote_tty = opts.tty;
        p.read_input = opts.interactive;
        p.at_input_end = stream::relay_policy::input_end::close_stdin;
        p.on_signal = stream::relay_policy::signals::forward;
        // Hanging up kills the process, the way a local command dies of SIGPIPE.
        p.output_closed_code = 128 + SIGPIPE;
        // Without -i nothing reads our keys, so Ctrl-C had better stay a local signal, which
        // is then forwarded.
        std::optional<tty::raw_mode> raw;
        if (opts.tty && opts.interactive && tty::is_terminal(STDIN_FILENO))
            p.raw = &raw.emplace(STDIN_FILENO);
        return stream::relay(conn, signals.fd(), p);
    });
}

} // namespace ctr::control
