// exec: a new process in a running container, relayed to the one client that asked for it. It
// lives as long as the client does: hanging up kills it.
#include "frame_io.hpp"
#include "sessions_impl.hpp"
#include "stream_conn.hpp"
#include <signal.h>

#include <asio/co_spawn.hpp>

#include "ctr/control/stream.hpp"
#include "ctr/core/awaitable.hpp"
#include "ctr/core/error.hpp"
#include "ctr/core/log.hpp"

namespace ctr::control {

namespace {
constexpr std::chrono::milliseconds drain_limit{500};

// Held by the session, the waiter and the reader, whichever ends last.
struct exec_run {
    exec_run(asio::any_io_executor ex, std::string name, supervise::child_process p)
        : hub(ex, std::move(name), std::nullopt, 0), child(std::move(p)) {}
    tty::hub hub;
    supervise::child_process child;
};

std::vector<std::string> strings(const nlohmann::json& req, const char* key, bool required) {
    if (!req.contains(key) || req[key].is_null()) {
        if (required) fail("request needs \"{}\"", key);
        return {};
    }
    if (!req[key].is_array()) fail("\"{}\" must be an array of strings", key);
    std::vector<std::string> out;
    for (auto& v : req[key]) {
        if (!v.is_string()) fail("\"{}\" must be an array of strings", key);
        out.push_back(v.get<std::string>());
    }
    return out;
}

asio::awaitable<void> wait_exit(std::shared_ptr<exec_run> run, std::string who) {
    auto status = co_await run->child.wait_exit();
    log::info("supervisor", "{}: {}", who, sys::describe(status));
    // Named, not braced in the co_await: GCC 12 destroys such temporaries twice.
    tty::run_end how{status, {}, {}};
    co_await run->hub.end(std::move(how), "", drain_limit);
}

} // namespace

asio::awaitable<void> serve_exec(asio::local::stream_protocol::socket& sock,
                                 supervise::container& ct, const nlohmann::json& req) {
    supervise::spawner::exec_request what;
    what.argv = strings(req, "argv", true);
    if (what.argv.empty()) fail("exec needs a command");
    what.env = strings(req, "env", false);
    if (req.contains("workdir") && !req["workdir"].is_null()) {
        if (!req["workdir"].is_string()) fail("\"workdir\" must be a string");
        what.workdir = req["workdir"].get<std::string>();
    }
    what.tty = flag(req, "tty", false);
    what.stdin_open = flag(req, "stdin", false);
    auto size = size_of(req);

    auto started = co_await ct.exec(what);
    if (!started.setup_error.empty()) fail("{}", started.setup_error);
    auto who = fmt::format("exec {} in {} (pid {})", what.argv.front(), ct.config().name,
                           started.child.pid());
    log::info("supervisor", "{}", who);
    auto ex = sock.get_executor();
    auto run = std::make_shared<exec_run>(ex, ct.config().name, std::move(started.child));
    run->hub.begin(std::move(started.io), {});
    if (size) run->hub.resize(*size);

    auto c = std::make_shared<stream_conn>(std::move(sock));
    c->who = who;
    c->sub = run->hub.subscribe(tty::subscriber::kind::attach, false, client_queue_limit);
    asio::co_spawn(ex, wait_exit(run, who), log_escape("supervisor", who));
    nlohmann::json ok{{"ok", true}, {"tty", what.tty}};
    if (co_await write_frame(c->sock, frame_type::response, ok.dump())) {
        // The lambda holds the run, and so the hub, for as long as the reader runs. Detaching
        // ends an exec like hanging up: it has nobody else to outlive its client.
        auto signal = [run](int sig) { run->child.signal(sig); };
        asio::co_spawn(ex, relay_input(c, run->hub, signal, true), log_escape("supervisor", who));
        co_await pump(c);
    }
    run->hub.unsubscribe(c->sub);
    std::error_code ec;
    c->sock.close(ec);
    // The waiter reaps it and ends the hub.
    if (!run->child.reaped()) run->child.signal(SIGKILL);
}

} // namespace ctr::control
