// Running a command line from a test and reading files back, for the tests of gcwalk's tools
// (tests/dump, tests/pack). The including file defines GCWALK_TEST_TMP, a folder for scratch files.
#pragma once

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace gcwalk::test {

struct Run {
    int status = -1;
    std::string out, err;
};

inline std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// One directory per test process: ctest -j runs the test cases of a file in parallel.
inline std::string tmp_path(const std::string& name) {
    static const std::string dir = std::string(GCWALK_TEST_TMP) + "/" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    return dir + "/" + name;
}

// `s` quoted for sh.
inline std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// Runs a shell command; stdout and stderr captured separately.
inline Run run(const std::string& cmd) {
    static int counter = 0;
    const std::string err_file = tmp_path("stderr." + std::to_string(++counter));
    Run r;
    FILE* p = popen((cmd + " 2>" + quote(err_file)).c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.err = slurp(err_file);
    return r;
}

} // namespace gcwalk::test
