#include "ctr/control/client.hpp"

#include "wire.hpp"
#include <cstdlib>

#include "ctr/config/config.hpp"

namespace ctr::control {

namespace {

using std::chrono::milliseconds;

// Slack on top of a stop or wait timeout for the supervisor's own reaping and reply.
constexpr milliseconds slow_margin{30'000};

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
    if (op == request.end() || !op->is_string()) return wire::quick_timeout;
    if (*op == "stop" || *op == "wait") return plus_margin(request);
    // Both wait out stop graces of their own.
    if (*op == "restart" || *op == "reload") return std::nullopt;
    return wire::quick_timeout;
}

client::client(const std::filesystem::path& socket)
    : path_(socket), fd_(wire::connect_to(socket)) {}

nlohmann::json client::call(const nlohmann::json& request) {
    send_all(wire::request_frame(request));
    return wire::check_response(receive(response_timeout(request)), path_);
}

void client::send_all(std::string_view bytes) {
    wire::send_all(fd_.get(), bytes, path_);
}

frame client::receive(std::optional<milliseconds> timeout) {
    return wire::receive(fd_.get(), decoder_, timeout, path_);
}

} // namespace ctr::control
