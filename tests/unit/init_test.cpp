// `init = true`: the key, and the plan that makes the child exec ctr-init with the command after
// it, and the messages of its failure records.
#include <cerrno>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <vector>

#include <doctest/doctest.h>

#include "ctr/config/config.hpp"
#include "ctr/spawn/child.hpp"
#include "ctr/spawn/init_image.hpp"
#include "ctr/spawn/plan.hpp"

using namespace ctr;

namespace {

config::container container_of(std::string_view extra) {
    auto cfg = config::parse("[container box]\nrootfs = /r\ncommand = sh -c 'exit 7'\n" +
                                 std::string(extra),
                             "conf/lab.ini", false);
    REQUIRE(cfg.containers.size() == 1);
    return cfg.containers[0];
}

std::string error_of(std::string_view extra) {
    try {
        container_of(extra);
    } catch (const config::config_error& e) {
        return e.what();
    }
    return "no error";
}

std::vector<std::string> strings(const std::vector<char*>& argv) {
    std::vector<std::string> out;
    for (char* a : argv)
        out.push_back(a ? a : "(null)");
    return out;
}

} // namespace

TEST_CASE("config: init is off by default, a boolean, and once per container") {
    CHECK_FALSE(container_of("").init);
    CHECK(container_of("init = true\n").init);
    CHECK(container_of("init = yes\n").init);
    CHECK_FALSE(container_of("init = false\n").init);
    CHECK(error_of("init = maybe\n")
              .starts_with("conf/lab.ini:4: bad init 'maybe' in [container "
                           "box]"));
    CHECK(error_of("init = true\ninit = false\n").find("conf/lab.ini:5: duplicate key 'init'") !=
          std::string::npos);
    CHECK(error_of("[supervisor]\ninit = true\n").find("unknown key 'init' in [supervisor]") !=
          std::string::npos);
}

TEST_CASE("plan: init puts ctr-init first, the report fd, then the command unchanged") {
    auto c = container_of("init = true\n");
    auto p = spawn::make_plan(c, {"/run/ctr/containers/box"});
    CHECK(p.init_image == -1); // make_plan alone never execs ctr-init
    CHECK(p.init_argv.empty());
    spawn::use_init(p, 42);
    CHECK(p.init_image == 42);
    CHECK(strings(p.init_argv) == std::vector<std::string>{"ctr-init",
                                                           std::to_string(spawn::init_report_fd),
                                                           "--", "sh", "-c", "exit 7", "(null)"});
    // The command's own argv stays what the messages name.
    CHECK(strings(p.argv) == std::vector<std::string>{"sh", "-c", "exit 7", "(null)"});
    // The views survive the plan's move (the spawner moves plans around).
    spawn::plan moved = std::move(p);
    CHECK(std::string(moved.init_argv[3]) == "sh");
}

TEST_CASE("describe: ctr-init's failures name the command or the container") {
    auto c = container_of("init = true\n");
    auto p = spawn::make_plan(c, {"/run/ctr/containers/box"});
    spawn::use_init(p, 42);
    CHECK(spawn::describe({spawn::step::exec, ENOENT, -1}, p) ==
          "exec \"sh\": No such file or directory");
    CHECK(spawn::describe({spawn::step::init_fork, EAGAIN, -1}, p) ==
          "ctr-init: fork for \"sh\": Resource temporarily unavailable");
    CHECK(spawn::describe({spawn::step::exec_init, ENOEXEC, -1}, p) ==
          "execveat(ctr-init memfd) in container box: Exec format error");
    CHECK(spawn::describe({spawn::step::prepare_init, EBADF, -1}, p) ==
          "hand the report pipe to ctr-init in container box: Bad file descriptor");
}

TEST_CASE("init_image: a sealed, executable copy that no fd can write, and errors name the file") {
    auto image = spawn::init_image("/bin/true");
    REQUIRE(image.fd() >= 0);
    int seals = ::fcntl(image.fd(), F_GET_SEALS);
    CHECK((seals & F_SEAL_WRITE) != 0);
    CHECK((seals & F_SEAL_SEAL) != 0);
    struct stat st {
    }, original{};
    REQUIRE(::fstat(image.fd(), &st) == 0);
    REQUIRE(::stat("/bin/true", &original) == 0);
    CHECK(st.st_size == original.st_size);
    CHECK((st.st_mode & 0777) == 0555);
    // A container reaches it as /proc/1/exe: reopened for writing, it still refuses every byte.
    std::string path = "/proc/self/fd/" + std::to_string(image.fd());
    int w = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (w >= 0) {
        CHECK(::write(w, "x", 1) == -1);
        CHECK(errno == EPERM);
        ::close(w);
    }
    CHECK(::write(image.fd(), "x", 1) == -1);
    CHECK(::ftruncate(image.fd(), 0) == -1);

    try {
        spawn::init_image missing("/nonexistent/ctr-init");
        FAIL("no error");
    } catch (const std::system_error& e) {
        CHECK(std::string(e.what()) ==
              "open(\"/nonexistent/ctr-init\"): No such file or directory");
    }
}
