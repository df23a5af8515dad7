#include "ctr/control/sessions.hpp"

#include "sessions_impl.hpp"
#include "stream_conn.hpp"

#include "ctr/core/error.hpp"

namespace ctr::control {

bool is_stream_op(const nlohmann::json& req) {
    if (!req.is_object() || !req.contains("op") || !req["op"].is_string()) return false;
    auto op = req["op"].get<std::string>();
    return op == "attach" || op == "logs" || op == "exec";
}

asio::awaitable<void> serve_stream(asio::local::stream_protocol::socket sock,
                                   supervise::supervisor& sup, nlohmann::json req) {
    std::string op = req["op"], error;
    try {
        auto name = req.value("name", nlohmann::json());
        if (!name.is_string()) fail("request needs a \"name\"");
        // Held until the session ends, even when a reload removes the container meanwhile.
        auto c = sup.find(name.get<std::string>());
        if (!c) fail("no container named '{}'", name.get<std::string>());
        if (op == "attach")
            co_await serve_attach(sock, c, req);
        else if (op == "logs")
            co_await serve_logs(sock, *c, req);
        else
            co_await serve_exec(sock, *c, req);
    } catch (const std::exception& e) {
        error = e.what();
    }
    // Thrown only before the stream began (the op still holds the socket): a plain refusal.
    if (!error.empty() && sock.is_open()) co_await refuse(sock, error);
}

} // namespace ctr::control
