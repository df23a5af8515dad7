#include "ctr/control/handlers.hpp"

#include <signal.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "ctr/core/awaitable.hpp"
#include "ctr/core/error.hpp"

namespace ctr::control {

using namespace asio::experimental::awaitable_operators;
using nlohmann::json;
using std::chrono::milliseconds;
using supervise::state;

nlohmann::json to_json(const supervise::status& st, const config::container& cfg,
                       const std::optional<std::string>& ip) {
    json j{{"name", st.name},
           {"ip", ip ? json(*ip) : json(nullptr)},
           {"state", supervise::to_string(st.current)},
           {"pid", st.pid ? json(st.pid) : json(nullptr)},
           {"restarts", st.restarts},
           {"restart_policy", config::to_string(cfg.restart)},
           {"started_at", nullptr},
           {"exit_code", nullptr},
           {"signal", nullptr},
           {"reason", st.reason.empty() ? json(nullptr) : json(st.reason)},
           {"error", st.error.empty() ? json(nullptr) : json(st.error)}};
    if (st.started_at)
        j["started_at"] =
            std::chrono::duration_cast<milliseconds>(st.started_at->time_since_epoch()).count();
    if (st.last_exit) {
        if (st.last_exit->exited())
            j["exit_code"] = st.last_exit->code;
        else
            j["signal"] = sys::signal_name(st.last_exit->signal);
    }
    return j;
}

namespace {

json ok(json extra = json::object()) {
    extra["ok"] = true;
    return extra;
}

// Held for the request's life: a reload may remove the container while the request waits.
std::shared_ptr<supervise::container> named(supervise::supervisor& sup, const json& req) {
    if (!req.contains("name") || !req["name"].is_string()) fail("request needs a \"name\"");
    auto name = req["name"].get<std::string>();
    auto c = sup.find(name);
    if (!c) fail("no container named '{}'", name);
    return c;
}

void check_not_removed(const supervise::container& c) {
    if (c.removed()) fail("container {} was removed by a reload", c.config().name);
}

std::optional<milliseconds> timeout_of(const json& req) {
    if (!req.contains("timeout_ms") || req["timeout_ms"].is_null()) return std::nullopt;
    auto& t = req["timeout_ms"];
    if (!t.is_number() || t.get<double>() < 0) fail("\"timeout_ms\" must be a number >= 0");
    return milliseconds(static_cast<long long>(t.get<double>()));
}

// Awaits until `done()` holds, re-checking after every state change.
template <typename Pred> asio::awaitable<void> until(supervise::supervisor& sup, Pred done) {
    while (!done())
        co_await sup.changed().wait();
}

// Reports a start that did not end up running, e.g. "web: exec "/x": No such file or directory".
void check_started(const supervise::container& c) {
    auto& st = c.current();
    if (st.current == state::running) return;
    if (!st.error.empty()) fail("{}: {}", st.name, st.error);
    fail("{}: {} ({})", st.name, supervise::to_string(st.current),
         st.last_exit ? sys::describe(*st.last_exit) : "no exit status");
}

bool start_settled(const supervise::container& c, unsigned starts_before) {
    auto& st = c.current();
    return st.starts > starts_before && st.current != state::starting &&
           st.current != state::stopping;
}

// Files a start (or restart) and answers once it ran or settled; a start already under way is
// the one waited for.
asio::awaitable<json> op_start(supervise::supervisor& sup, const json& req, bool restart) {
    auto held = named(sup, req);
    auto& c = *held;
    auto& st = c.current();
    if (!restart && st.current == state::running) co_return ok();
    unsigned before = st.starts - (!restart && st.current == state::starting ? 1 : 0);
    if (restart)
        c.request_restart();
    else
        c.request_start();
    co_await until(sup,
                   [&] { return start_settled(c, before) || sup.shutting_down() || c.removed(); });
    check_not_removed(c);
    check_started(c);
    co_return ok();
}

asio::awaitable<json> op_stop(supervise::supervisor& sup, const json& req) {
    auto held = named(sup, req);
    auto& c = *held;
    c.request_stop(timeout_of(req));
    // A removed container has stopped as a stop would have.
    co_await until(sup, [&] { return c.settled_down() || c.removed(); });
    co_return ok();
}

asio::awaitable<json> op_kill(supervise::supervisor& sup, const json& req) {
    auto& c = *named(sup, req);
    int sig = SIGKILL;
    if (req.contains("signal")) {
        if (!req["signal"].is_number_integer()) fail("\"signal\" must be a signal number");
        sig = req["signal"].get<int>();
    }
    if (sig <= 0 || sig >= NSIG) fail("invalid signal {}", sig);
    c.send_signal(sig);
    co_return ok();
}

asio::awaitable<json> op_ps(supervise::supervisor& sup) {
    json list = json::array();
    for (auto& c : sup.containers())
        list.push_back(to_json(c->current(), c->config(), sup.nets().address_of(c->config().name)));
    co_return ok({{"containers", std::move(list)}});
}

template <typename T> json or_null(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

json stats_of(const supervise::container& c) {
    auto s = c.usage();
    return {{"name", c.config().name},
            {"memory", or_null(s.memory)},
            {"memory_peak", or_null(s.memory_peak)},
            {"pids", or_null(s.pids)},
            {"cpu_seconds", or_null(s.cpu_seconds)}};
}

// One named container, which must be running; else every container that runs now.
asio::awaitable<json> op_stats(supervise::supervisor& sup, const json& req) {
    json list = json::array();
    if (req.contains("name") && !req["name"].is_null()) {
        list.push_back(stats_of(*named(sup, req)));
    } else {
        for (auto& c : sup.containers()) {
            try {
                list.push_back(stats_of(*c));
            } catch (const ctr::error&) {
                // Not running: nothing to count.
            }
        }
    }
    co_return ok({{"containers", std::move(list)}});
}

asio::awaitable<json> op_reload(supervise::supervisor& sup) {
    auto s = co_await sup.reload();
    auto& c = s.plan.containers;
    auto& n = s.plan.networks;
    co_return ok({{"summary", s.describe()},
                  {"added", c.added},
                  {"removed", c.removed},
                  {"recreated", c.recreated},
                  {"updated", c.updated},
                  {"unchanged", c.unchanged},
                  {"networks_added", n.added},
                  {"networks_removed", n.removed},
                  {"networks_rebuilt", n.rebuilt},
                  {"failed", s.failed},
                  {"needs_restart", s.plan.needs_restart}});
}

asio::awaitable<json> op_net(supervise::supervisor& sup) {
    co_return ok({{"networks", sup.nets().describe()}});
}

asio::awaitable<json> op_wait(supervise::supervisor& sup, const json& req) {
    std::vector<std::shared_ptr<supervise::container>> targets;
    if (req.contains("names") && req["names"].is_array() && !req["names"].empty()) {
        for (auto& n : req["names"]) {
            if (!n.is_string()) fail("\"names\" must hold strings");
            auto c = sup.find(n.get<std::string>());
            if (!c) fail("no container named '{}'", n.get<std::string>());
            targets.push_back(std::move(c));
        }
    } else {
        targets = sup.containers();
    }
    auto want_name = req.value("state", std::string("running"));
    auto want = supervise::parse_state(want_name);
    if (!want) fail("unknown state '{}'", want_name);
    auto reached = [&] {
        for (auto& c : targets)
            if (c->current().current != *want) return false;
        return true;
    };
    auto removed = [&] {
        return std::any_of(targets.begin(), targets.end(), [](auto& c) { return c->removed(); });
    };
    asio::steady_timer deadline(co_await asio::this_coro::executor,
                                timeout_of(req).value_or(milliseconds(30'000)));
    bool timed_out = false;
    while (!reached() && !timed_out && !removed()) {
        auto r = co_await (sup.changed().wait() || deadline.async_wait(ctr::as_tuple_awaitable));
        timed_out = r.index() == 1;
    }
    for (auto& c : targets)
        check_not_removed(*c);
    if (!reached()) {
        std::string behind;
        for (auto& c : targets)
            if (c->current().current != *want)
                behind += fmt::format("{}{} is {}", behind.empty() ? "" : ", ", c->current().name,
                                      supervise::to_string(c->current().current));
        fail("timed out waiting for {}: {}", want_name, behind);
    }
    co_return ok();
}

} // namespace

asio::awaitable<json> handle(supervise::supervisor& sup, const json& req) {
    try {
        if (!req.is_object() || !req.contains("op") || !req["op"].is_string())
            fail("a request is a JSON object with an \"op\"");
        auto op = req["op"].get<std::string>();
        if (op == "ps") co_return co_await op_ps(sup);
        if (op == "net") co_return co_await op_net(sup);
        if (op == "stats") co_return co_await op_stats(sup, req);
        if (sup.shutting_down() && op != "wait") fail("the supervisor is shutting down");
        if (op == "start") co_return co_await op_start(sup, req, false);
        if (op == "stop") co_return co_await op_stop(sup, req);
        if (op == "restart") co_return co_await op_start(sup, req, true);
        if (op == "kill") co_return co_await op_kill(sup, req);
        if (op == "wait") co_return co_await op_wait(sup, req);
        if (op == "reload") co_return co_await op_reload(sup);
        fail("unknown op '{}'", op);
    } catch (const std::exception& e) {
        co_return json{{"ok", false}, {"error", e.what()}};
    }
}

} // namespace ctr::control
