// sys::remove_tree: rm -rf that never follows a symlink out of the tree.
#include "common/temp_dir.hpp"
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "ctr/sys/files.hpp"

using ctr::test::temp_dir;

namespace fs = std::filesystem;

namespace {

void touch(const fs::path& p) {
    std::ofstream(p) << "x";
}

} // namespace

TEST_CASE("remove_tree removes nested folders and files, keeps what symlinks point to") {
    temp_dir t;
    auto outside = t.path / "outside";
    fs::create_directories(outside / "keep");
    touch(outside / "keep" / "file");

    auto tree = t.path / "tree";
    fs::create_directories(tree / "a" / "b" / "c");
    fs::create_directories(tree / "empty");
    touch(tree / "top");
    touch(tree / "a" / "b" / "c" / "deep");
    for (int i = 0; i < 500; ++i) // more entries than one getdents64 buffer holds
        touch(tree / "a" / ("many-" + std::to_string(i)));
    fs::create_symlink(outside, tree / "link-to-folder");
    fs::create_symlink(outside / "keep" / "file", tree / "a" / "link-to-file");
    fs::create_symlink("/nonexistent", tree / "dangling");
    REQUIRE(::mkfifo((tree / "fifo").c_str(), 0600) == 0);
    // Like overlayfs's work/work: no permission bits at all.
    fs::create_directories(tree / "locked" / "inner");
    touch(tree / "locked" / "inner" / "f");
    REQUIRE(::chmod((tree / "locked").c_str(), 0) == 0);

    if (::geteuid() != 0) REQUIRE(::chmod((tree / "locked").c_str(), 0700) == 0);
    ctr::sys::remove_tree(tree);
    CHECK(!fs::exists(fs::symlink_status(tree)));
    CHECK(fs::exists(outside / "keep" / "file"));
}

TEST_CASE("remove_tree of a missing path, a file and a symlink") {
    temp_dir t;
    CHECK_NOTHROW(ctr::sys::remove_tree(t.path / "missing"));

    touch(t.path / "file");
    ctr::sys::remove_tree(t.path / "file");
    CHECK(!fs::exists(t.path / "file"));

    fs::create_directories(t.path / "target");
    touch(t.path / "target" / "kept");
    fs::create_directory_symlink(t.path / "target", t.path / "link");
    ctr::sys::remove_tree(t.path / "link");
    CHECK(!fs::exists(fs::symlink_status(t.path / "link")));
    CHECK(fs::exists(t.path / "target" / "kept"));
}

TEST_CASE("remove_tree of a tree deeper than the fd limit, a link with a trailing slash, and /") {
    temp_dir t;
    // A container can nest folders in its upper layer deeper than the supervisor's fd limit.
    auto tree = t.path / "deep";
    fs::path at = tree;
    fs::create_directories(at);
    for (int i = 0; i < 300; ++i) {
        at /= "d";
        REQUIRE(::mkdir(at.c_str(), 0755) == 0);
        touch(at / "f");
    }
    rlimit before{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
    rlimit low = before;
    low.rlim_cur = 64;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    std::string error;
    try {
        ctr::sys::remove_tree(tree);
    } catch (const std::exception& e) {
        error = e.what();
    }
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &before) == 0);
    CHECK(error == "");
    CHECK(!fs::exists(tree));

    fs::create_directories(t.path / "target");
    touch(t.path / "target" / "kept");
    fs::create_directory_symlink(t.path / "target", t.path / "link");
    ctr::sys::remove_tree((t.path / "link").string() + "/");
    CHECK(!fs::exists(fs::symlink_status(t.path / "link")));
    CHECK(fs::exists(t.path / "target" / "kept"));

    CHECK_THROWS(ctr::sys::remove_tree("/"));
    CHECK_THROWS(ctr::sys::remove_tree(""));
}
