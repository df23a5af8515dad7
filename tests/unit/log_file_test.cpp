// A container's log file: appends, marker lines, size rotation, and reading it back.
#include "common/temp_dir.hpp"
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "ctr/core/error.hpp"
#include "ctr/tty/log_file.hpp"

using ctr::test::temp_dir;

using namespace ctr::tty;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void put(const fs::path& p, std::string_view text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

fs::path nth(const fs::path& current, int n) {
    return fs::path(current.string() + "." + std::to_string(n));
}

// The fds this process has open that name `p`.
std::vector<int> fds_on(const fs::path& p) {
    std::vector<int> out;
    for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        auto target = fs::read_symlink(e.path(), ec);
        if (!ec && target == p) out.push_back(std::stoi(e.path().filename().string()));
    }
    return out;
}

std::string error_of(auto&& f) {
    try {
        f();
    } catch (const ctr::error& e) {
        return e.what();
    }
    return "no error";
}

const std::regex
    marker(R"(\[ctr-supervisor (\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.\d{3}Z\] (.*))");

} // namespace

TEST_CASE("log file: created 0640, appended to, one close-on-exec fd") {
    temp_dir dir;
    auto path = dir.path / "web.log";
    mode_t old = ::umask(022);
    {
        log_file log(path, {});
        ::umask(old);
        struct stat st {};
        REQUIRE(::stat(path.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0640);
        auto fds = fds_on(path);
        REQUIRE(fds.size() == 1);
        CHECK((::fcntl(fds[0], F_GETFD) & FD_CLOEXEC) != 0);

        log.write("hello\n");
        log.write("");
        log.write("world");
        CHECK(log.size() == 11);
        CHECK(log.path() == path);
        CHECK(slurp(path) == "hello\nworld");
    }
    CHECK(fds_on(path).empty());
    // Kept across restarts: a new log_file appends.
    log_file again(path, {});
    CHECK(again.size() == 11);
    again.write("!\n");
    CHECK(slurp(path) == "hello\nworld!\n");
}

TEST_CASE("log file: rotates by size, keeping max_files files, the oldest dropped") {
    temp_dir dir;
    auto path = dir.path / "web.log";
    log_file log(path, {.max_size = 10, .max_files = 3});
    log.write("aaaa\n");
    log.write("bbbb\n"); // exactly max_size: no rotation yet
    CHECK_FALSE(fs::exists(nth(path, 1)));
    log.write("cccc\n");
    CHECK(slurp(nth(path, 1)) == "aaaa\nbbbb\n");
    CHECK(slurp(path) == "cccc\n");
    CHECK(log.size() == 5);
    log.write("dddd\n");
    log.write("eeee\n");
    CHECK(slurp(nth(path, 2)) == "aaaa\nbbbb\n");
    CHECK(slurp(nth(path, 1)) == "cccc\ndddd\n");
    CHECK(slurp(path) == "eeee\n");
    log.write("ffff\n");
    log.write("gggg\n");
    CHECK(slurp(nth(path, 2)) == "cccc\ndddd\n");
    CHECK(slurp(nth(path, 1)) == "eeee\nffff\n");
    CHECK(slurp(path) == "gggg\n");
    CHECK_FALSE(fs::exists(nth(path, 3)));
    CHECK(log_files(path, 3) == std::vector{nth(path, 2), nth(path, 1), path});
    // The current file was reopened: its writes no longer reach the rotated ones, and the old
    // fds are closed.
    CHECK(fds_on(path).size() == 1);
    CHECK(fds_on(nth(path, 1)).empty());
    CHECK(fds_on(nth(path, 2)).empty());
}

TEST_CASE("log file: a write larger than max_size goes whole into a fresh file") {
    temp_dir dir;
    auto path = dir.path / "web.log";
    log_file log(path, {.max_size = 4, .max_files = 2});
    log.write("0123456789"); // empty file: no rotation, however big
    CHECK_FALSE(fs::exists(nth(path, 1)));
    CHECK(slurp(path) == "0123456789");
    log.write("ab");
    CHECK(slurp(nth(path, 1)) == "0123456789");
    CHECK(slurp(path) == "ab");
}

TEST_CASE("log file: max_files = 1 keeps only the current file, started again") {
    temp_dir dir;
    auto path = dir.path / "web.log";
    log_file log(path, {.max_size = 8, .max_files = 1});
    log.write("aaaa\n");
    log.write("bbbb\n");
    CHECK(slurp(path) == "bbbb\n");
    CHECK(log.size() == 5);
    log.write("cc\n");
    CHECK(slurp(path) == "bbbb\ncc\n");
    CHECK_FALSE(fs::exists(nth(path, 1)));
    CHECK(log_files(path, 1) == std::vector{path});
    CHECK(read_log(path, 1) == "bbbb\ncc\n");
}

TEST_CASE("log file: marker lines carry the UTC time and start on a line of their own") {
    temp_dir dir;
    auto path = dir.path / "web.log";
    log_file log(path, {});
    std::time_t before = std::time(nullptr);
    log.mark("started");
    log.write("partial");
    log.mark("exited with code 3\nand a second line");
    log.write("next\n");
    log.mark("started");
    std::time_t after = std::time(nullptr);

    std::istringstream lines(slurp(path));
    std::vector<std::string> got;
    for (std::string l; std::getline(lines, l);)
        got.push_back(l);
    REQUIRE(got.size() == 5);
    std::smatch m;
    REQUIRE(std::regex_match(got[0], m, marker));
    CHECK(m[7] == "started");
    std::tm t{};
    t.tm_year = std::stoi(m[1]) - 1900;
    t.tm_mon = std::stoi(m[2]) - 1;
    t.tm_mday = std::stoi(m[3]);
    t.tm_hour = std::stoi(m[4]);
    t.tm_min = std::stoi(m[5]);
    t.tm_sec = std::stoi(m[6]);
    std::time_t stamped = ::timegm(&t);
    CHECK(stamped >= before);
    CHECK(stamped <= after);
    CHECK(got[1] == "partial");
    REQUIRE(std::regex_match(got[2], m, marker));
    CHECK(m[7] == "exited with code 3 and a second line");
    CHECK(got[3] == "next");
    REQUIRE(std::regex_match(got[4], m, marker));
    CHECK(slurp(path).back() == '\n');
}

TEST_CASE("log file: a log reopened mid-line gets its marker on a new line") {
    temp_dir dir;
    auto path = dir.path / "web.log";
    put(path, "left by the last run");
    log_file log(path, {});
    log.mark("started");
    auto text = slurp(path);
    REQUIRE(text.starts_with("left by the last run\n[ctr-supervisor "));
    CHECK(text.ends_with("] started\n"));
}

TEST_CASE("log file: a marker that rotates starts the fresh file, without a blank line") {
    temp_dir dir;
    auto path = dir.path / "web.log";
    log_file log(path, {.max_size = 20, .max_files = 2});
    log.write("prompt$ ");
    log.mark("exited with code 0");
    CHECK(slurp(nth(path, 1)) == "prompt$ ");
    auto text = slurp(path);
    std::smatch m;
    REQUIRE(text.ends_with("\n"));
    std::string line = text.substr(0, text.size() - 1);
    CHECK(std::regex_match(line, m, marker));
}

TEST_CASE("log file: write errors name the call and the file; the log stays usable") {
    // /dev/full takes an open and refuses every write with ENOSPC, like a full disk.
    log_file log("/dev/full", {});
    CHECK(error_of([&] { log.write("x"); }) == "write(\"/dev/full\"): No space left on device");
    CHECK(error_of([&] { log.mark("exited"); }) == "write(\"/dev/full\"): No space left on device");
    CHECK(log.size() == 0);
}

TEST_CASE("log file: an open that fails names the call and the path") {
    temp_dir dir;
    auto path = dir.path / "missing-dir" / "web.log";
    CHECK(error_of([&] { log_file log(path, {}); }) ==
          "open(\"" + path.string() + "\"): No such file or directory");
}

TEST_CASE("read_log: everything, oldest file first") {
    temp_dir dir;
    auto path = dir.path / "web.log";
    put(nth(path, 2), "one\ntwo\n");
    put(nth(path, 1), "three\n");
    put(path, "four\nfive");
    CHECK(read_log(path, 3) == "one\ntwo\nthree\nfour\nfive");
    // Files past max_files are not the log's.
    CHECK(read_log(path, 2) == "three\nfour\nfive");
    CHECK(log_files(path, 2) == std::vector{nth(path, 1), path});
}

TEST_CASE("read_log: the last lines, across files") {
    temp_dir dir;
    auto path = dir.path / "web.log";
    put(nth(path, 2), "one\ntwo\n");
    put(nth(path, 1), "three\n");
    put(path, "four\nfive"); // the last line has no newline yet and counts
    CHECK(read_log(path, 3, 0) == "");
    CHECK(read_log(path, 3, 1) == "five");
    CHECK(read_log(path, 3, 2) == "four\nfive");
    CHECK(read_log(path, 3, 3) == "three\nfour\nfive");
    CHECK(read_log(path, 3, 4) == "two\nthree\nfour\nfive");
    CHECK(read_log(path, 3, 5) == "one\ntwo\nthree\nfour\nfive");
    CHECK(read_log(path, 3, 100) == "one\ntwo\nthree\nfour\nfive");

    put(path, "four\nfive\n");
    CHECK(read_log(path, 3, 1) == "five\n");
    CHECK(read_log(path, 3, 3) == "three\nfour\nfive\n");
    // A line split by a rotation is one line.
    put(nth(path, 1), "thr");
    put(path, "ee\nfour\n");
    CHECK(read_log(path, 3, 2) == "three\nfour\n");
}

TEST_CASE("read_log: missing files are skipped") {
    temp_dir dir;
    auto path = dir.path / "web.log";
    CHECK(read_log(path, 5).empty());
    CHECK(read_log(path, 5, 10).empty());
    CHECK(log_files(path, 5).empty());
    // A gap, as when a file was rotated away between listing and reading.
    put(nth(path, 3), "old\n");
    put(path, "new\n");
    CHECK(read_log(path, 5) == "old\nnew\n");
    CHECK(read_log(path, 5, 1) == "new\n");
    CHECK(log_files(path, 5) == std::vector{nth(path, 3), path});
    // Only rotated files, the current one gone.
    fs::remove(path);
    CHECK(read_log(path, 5) == "old\n");
}

TEST_CASE("read_log: a read error names the call and the file") {
    temp_dir dir;
    auto path = dir.path / "web.log";
    fs::create_directory(path); // opens, but read() fails with EISDIR
    CHECK(error_of([&] { read_log(path, 1); }) ==
          "read(\"" + path.string() + "\"): Is a directory");
}

TEST_CASE("read_log reads what log_file wrote, through its rotations") {
    temp_dir dir;
    auto path = dir.path / "web.log";
    log_file log(path, {.max_size = 64, .max_files = 4});
    std::string expect;
    for (int i = 0; i < 40; ++i) {
        std::string line = "line " + std::to_string(i) + "\n";
        log.write(line);
        expect += line;
    }
    // 4 files of at most 64 bytes hold the last lines only.
    std::string all = read_log(path, 4);
    CHECK(all.size() <= 4 * 64);
    CHECK(expect.ends_with(all));
    CHECK(all.starts_with("line "));
    CHECK(read_log(path, 4, 3) == "line 37\nline 38\nline 39\n");
}
