// The control socket answers root, and members of socket_group, by the kernel's credentials of
// the peer, not only by the socket file's mode.
#include "harness.hpp"
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace ctr::test;

namespace {
// A user (and group) made for this test run, removed again whatever happens.
struct temp_account {
    std::string user, group;
    temp_account(std::string u, std::string g) : user(std::move(u)), group(std::move(g)) {
        if (!group.empty()) run({"/usr/sbin/groupadd", group});
        std::vector<std::string> args{"/usr/sbin/useradd", "-M", "-s", "/bin/false"};
        if (!group.empty()) args.insert(args.end(), {"-G", group});
        args.push_back(user);
        run(args);
    }
    ~temp_account() {
        run({"/usr/sbin/userdel", user});
        if (!group.empty()) run({"/usr/sbin/groupdel", group});
    }
};

// Runs ctrctl as `user` with its groups, stdout and stderr captured.
run_result ctrctl_as(const std::string& user, const lab& l, std::vector<std::string> args) {
    const passwd* pw = ::getpwnam(user.c_str());
    REQUIRE(pw);
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    char err_name[] = "/tmp/ctr-test-err-XXXXXX";
    int err = ::mkstemp(err_name);
    ::unlink(err_name);
    ::fchmod(err, 0666);
    args.insert(args.begin(), {(build_dir() / "ctrctl").string(), "--socket", l.socket.string()});
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(err, 2);
        int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        if (::initgroups(user.c_str(), gid) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)
            ::_exit(99);
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    run_result r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    ::lseek(err, 0, SEEK_SET);
    char buf[4096];
    ssize_t n = ::read(err, buf, sizeof buf);
    if (n > 0) r.err.assign(buf, static_cast<std::size_t>(n));
    ::close(err);
    return r;
}
} // namespace

TEST_CASE("the control socket refuses a non-root peer even when the file mode would let it in") {
    CTR_REQUIRE_ROOT();
    temp_account stranger(fmt::format("ctrtu{}", ::getpid() % 100000), "");
    lab l("[container c]\nrootfs = @ROOTFS@\ncommand = sleep 1000\n");
    REQUIRE(l.start());
    struct stat mode {};
    REQUIRE(::stat(l.socket.c_str(), &mode) == 0);
    CHECK((mode.st_mode & 0777) == 0600);
    // Open the path wide, as a careless admin might: the kernel's word about the peer still counts.
    ::chmod(l.dir.c_str(), 0755);
    ::chmod(l.socket.c_str(), 0666);
    auto r = ctrctl_as(stranger.user, l, {"ps"});
    CHECK(r.code == 1);
    CAPTURE(r.err);
    CHECK(r.err.find("permission denied") != std::string::npos);
    CHECK(l.log().find("control client refused") != std::string::npos);
    CHECK(l.ctl({"ps"}).code == 0); // root still gets in
}

TEST_CASE("socket_group lets its members in and nobody else") {
    CTR_REQUIRE_ROOT();
    auto tag = ::getpid() % 100000;
    temp_account member(fmt::format("ctrtm{}", tag), fmt::format("ctrtg{}", tag));
    temp_account stranger(fmt::format("ctrtu{}", tag), "");
    lab l("[container c]\nrootfs = @ROOTFS@\ncommand = sleep 1000\n",
          fmt::format("socket_group = {}", member.group));
    REQUIRE(l.start());
    const group* g = ::getgrnam(member.group.c_str());
    REQUIRE(g);
    struct stat st {};
    REQUIRE(::stat(l.socket.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0660);
    CHECK(st.st_gid == g->gr_gid);
    ::chmod(l.dir.c_str(), 0755); // the test's own folder, so the path can be reached
    auto ok = ctrctl_as(member.user, l, {"ps"});
    CAPTURE(ok.err);
    CHECK(ok.code == 0);
    auto refused = ctrctl_as(stranger.user, l, {"ps"});
    CHECK(refused.code == 1);
}
