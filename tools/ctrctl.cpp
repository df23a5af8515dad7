// ctrctl: one request to a running ctr-supervisor over its control socket, one answer printed;
// attach, logs and exec stream instead (ctr/control/stream_client.hpp).
// Exit codes: 0 success; 1 failure, with one `ctrctl: ` line on stderr (a refused request, a
// `wait` that timed out, no supervisor); 2 usage error; attach and exec return the process's.
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ctr/config/config.hpp"
#include "ctr/control/client.hpp"
#include "ctr/control/format.hpp"
#include "ctr/control/stream_client.hpp"
#include "ctr/core/error.hpp"
#include "ctr/tty/detach_keys.hpp"

namespace {

using nlohmann::json;

// Values are checked while parsing, so a bad one is a usage error (exit 2) like any other.
template <auto parse> std::string valid(const std::string& text) {
    try {
        parse(text);
        return {};
    } catch (const ctr::error& e) {
        return e.what();
    }
}

constexpr int exit_usage = 2;

} // namespace

int main(int argc, char** argv) {
    using namespace ctr::control;

    CLI::App app{"Control a running ctr-supervisor.", "ctrctl"};
    app.require_subcommand(1);
    app.failure_message([](const CLI::App*, const CLI::Error& e) {
        return fmt::format("ctrctl: {}\nRun with --help for more information.\n", e.what());
    });
    std::string socket, name, time, signal = "KILL", state = "running", timeout = "30";
    std::vector<std::string> names;
    bool as_json = false;
    auto* socket_opt = app.add_option("--socket", socket,
                                      "Control socket (default: $CTR_SOCKET, else " +
                                          std::string(ctr::config::default_socket) + ")");

    auto* ps = app.add_subcommand("ps", "List containers and their state");
    ps->add_flag("--json", as_json, "Print the status array as JSON");
    for (auto [cmd, help] : {std::pair{"start", "Start a container"},
                             std::pair{"stop", "Stop a container (TERM, then KILL)"},
                             std::pair{"restart", "Stop a container, then start it again"},
                             std::pair{"kill", "Send a signal to a container's process"},
                             std::pair{"attach", "Attach to a container's terminal or output"},
                             std::pair{"logs", "Print a container's log"}})
        app.add_subcommand(cmd, help)->add_option("name", name, "Container name")->required();
    app.get_subcommand("stop")
        ->add_option("-t,--time", time, "Seconds before KILL (default: the container's)")
        ->check(valid<parse_seconds>);
    app.get_subcommand("kill")
        ->add_option("-s,--signal", signal, "Name (TERM, SIGTERM) or number")
        ->capture_default_str()
        ->check(valid<parse_signal>);
    app.add_subcommand("reload", "Re-read the supervisor's config file and apply the changes");
    auto* net = app.add_subcommand("net", "List networks and their containers' addresses");
    net->add_flag("--json", as_json, "Print the networks as JSON");
    auto* stats =
        app.add_subcommand("stats", "Show memory, pids and CPU time of running containers");
    stats->add_option("name", name, "Container name (default: all running)");
    stats->add_flag("--json", as_json, "Print the stats array as JSON");
    auto* wait = app.add_subcommand("wait", "Wait until containers reach a state");
    wait->add_option("names", names, "Container names (default: all)");
    wait->add_option("--state", state, "State to wait for")->capture_default_str();
    wait->add_option("--timeout", timeout, "Seconds before giving up (exit 1)")
        ->capture_default_str()
        ->check(valid<parse_seconds>);

    attach_options attach_opts;
    bool no_replay = false;
    auto* attach_cmd = app.get_subcommand("attach");
    attach_cmd
        ->add_option("--detach-keys", attach_opts.detach_keys,
                     "Keys that detach (default: $CTR_DETACH_KEYS, else ctrl-p,ctrl-q)")
        ->check(valid<ctr::tty::parse_detach_keys>);
    attach_cmd->add_flag("--no-replay", no_replay, "Do not print the recent output first");
    logs_options logs_opts;
    auto* logs_cmd = app.get_subcommand("logs");
    logs_cmd->add_flag("-f,--follow", logs_opts.follow, "Keep printing new output until Ctrl-C");
    std::size_t tail = 0;
    auto* tail_opt = logs_cmd->add_option("--tail", tail, "Only the last N lines");
    exec_options exec_opts;
    auto* exec_cmd = app.add_subcommand("exec", "Run a command in a running container");
    exec_cmd->add_flag("-t,--tty", exec_opts.tty, "Give the command a terminal");
    exec_cmd->add_flag("-i,--interactive", exec_opts.interactive, "Send stdin to the command");
    exec_cmd->add_option("-e,--env", exec_opts.env, "Set an environment variable (K=V)")
        ->allow_extra_args(false) // -e A=1 NAME: NAME is not a second variable
        ->check([](const std::string& kv) {
            return kv.find('=') == std::string::npos || kv.front() == '=' ? "expected K=V" : "";
        });
    exec_cmd->add_option("-w,--workdir", exec_opts.workdir, "Working directory inside");
    exec_cmd->add_option("name", name, "Container name")->required();
    exec_cmd->add_option("command", exec_opts.argv, "Command and its arguments (after --)")
        ->required();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : exit_usage;
    }

    const std::string op = app.get_subcommands().front()->get_name();
    auto path = socket_path(socket_opt->count() ? std::optional(socket) : std::nullopt);
    attach_opts.replay = !no_replay;
    if (tail_opt->count()) logs_opts.tail = tail;
    if (op == "attach") return attach(path, name, attach_opts);
    if (op == "logs") return logs(path, name, logs_opts);
    if (op == "exec") return exec(path, name, exec_opts);
    json request{{"op", op}};
    if (op != "ps" && op != "wait" && op != "net" && op != "reload" &&
        (op != "stats" || !name.empty()))
        request["name"] = name;
    if (op == "stop" && !time.empty()) request["timeout_ms"] = parse_seconds(time).count();
    if (op == "kill") request["signal"] = parse_signal(signal);
    if (op == "wait") {
        request["names"] = names;
        request["state"] = state;
        request["timeout_ms"] = parse_seconds(timeout).count();
    }

    try {
        client c(path);
        json response = c.call(request);
        if (op == "reload") fmt::print("{}\n", response.value("summary", ""));
        if (op != "ps" && op != "net" && op != "stats") return 0;
        json list = response.value(op == "net" ? "networks" : "containers", json::array());
        if (as_json)
            fmt::print("{}\n", list.dump(2, ' ', false, json::error_handler_t::replace));
        else if (op == "ps")
            fmt::print("{}", format_ps(list, std::chrono::system_clock::now()));
        else if (op == "stats")
            fmt::print("{}", format_stats(list));
        else
            fmt::print("{}", format_net(list));
        return 0;
    } catch (const std::exception& e) {
        fmt::print(stderr, "ctrctl: {}\n", e.what());
        return 1;
    }
}
