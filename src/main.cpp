// ctr-supervisor: reads the config, then runs every container on one event loop until SIGTERM.
// Exit codes: 0 clean shutdown (or --check passed), 1 start-up failure, 2 invalid config or usage.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include "ctr/config/config.hpp"
#include "ctr/control/server.hpp"
#include "ctr/core/awaitable.hpp"
#include "ctr/core/log.hpp"
#include "ctr/supervise/supervisor.hpp"
#include "ctr/sys/files.hpp"
#include "ctr/sys/signals.hpp"

int main(int argc, char** argv) {
    CLI::App app{"ctr-supervisor: runs and supervises the containers of a config file"};
    std::string config_file, socket, level = "info";
    bool check = false;
    app.add_option("--config,-c", config_file, "INI file describing the containers")->required();
    app.add_flag("--check", check, "validate the config and exit");
    app.add_option("--socket", socket, "control socket (overrides CTR_SOCKET and the config)");
    app.add_option("--log-level", level, "debug, info, warn or error");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? 0 : 2;
    }

    ctr::config::config cfg;
    try {
        ctr::log::set_level(ctr::log::parse_level(level));
        cfg = ctr::config::load(config_file);
    } catch (const std::exception& e) {
        std::cerr << e.what() << "\n";
        return 2;
    }
    if (check) {
        std::cout << config_file << ": ok, " << cfg.containers.size() << " container(s)\n";
        return 0;
    }
    if (socket.empty())
        if (const char* env = std::getenv("CTR_SOCKET"); env && *env) socket = env;

    try {
        ctr::sys::ensure_std_fds();
        ctr::sys::ignore_sigpipe();
        asio::io_context io(1);
        // The supervisor keeps the override across reloads of the file.
        ctr::supervise::supervisor sup(io, std::move(cfg), socket);
        ctr::control::server srv(io, sup, sup.config().sup.socket, sup.config().sup.socket_group);
        int code = 0;
        asio::co_spawn(io, srv.accept_loop(), ctr::log_escape("supervisor", "control socket"));
        asio::co_spawn(io, sup.run(), [&](std::exception_ptr e) {
            if (auto msg = ctr::escaped(e); !msg.empty()) {
                ctr::log::error("supervisor", "event loop failed: {}", msg);
                code = 1;
            }
            srv.close();
            io.stop(); // ends the control sessions still open
        });
        io.run();
        return code;
    } catch (const std::exception& e) {
        ctr::log::error("supervisor", "{}", e.what());
        return 1;
    }
}
