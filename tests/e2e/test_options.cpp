// Unit tests of the runtime's environment parser (gc/runtime/options.cpp): defaults, accepted
// values, and the exact message for each invalid one.
#include "options.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>

using gcwalk::rt::Options;
using gcwalk::rt::parse_options;

namespace {

std::map<std::string, std::string> g_env;
const char* fake_getenv(const char* name) {
    auto it = g_env.find(name);
    return it == g_env.end() ? nullptr : it->second.c_str();
}

bool parse(std::map<std::string, std::string> env, Options* out, std::string* message) {
    g_env = std::move(env);
    return parse_options(fake_getenv, out, message);
}

} // namespace

TEST_CASE("defaults: 64 MiB, no stress, the fast walker with its walk cache, no verify or stats") {
    Options o;
    std::string message;
    REQUIRE(parse({}, &o, &message));
    CHECK(o.heap_mb == 64);
    CHECK(o.stress == 0);
    CHECK(o.walker == gcwalk::WalkerKind::Fast);
    CHECK_FALSE(o.walker_requested);
    CHECK_FALSE(o.verify);
    CHECK_FALSE(o.stats);
    CHECK_FALSE(o.skip_root);
    CHECK(o.walk_cache);
}

TEST_CASE("accepted values") {
    Options o;
    std::string message;
    REQUIRE(parse({{"GCWALK_HEAP_MB", "1"},
                   {"GCWALK_STRESS", "4294967295"},
                   {"GCWALK_WALKER", "libunwind"},
                   {"GCWALK_VERIFY", "1"},
                   {"GCWALK_STATS", "1"},
                   {"GCWALK_TEST_SKIP_ROOT", "0"}},
                  &o, &message));
    CHECK(o.heap_mb == 1);
    CHECK(o.stress == 4294967295u);
    CHECK(o.walker == gcwalk::WalkerKind::Libunwind);
    CHECK(o.walker_requested);
    CHECK(o.verify);
    CHECK(o.stats);
    REQUIRE(
        parse({{"GCWALK_STRESS", ""}, {"GCWALK_WALKER", "fast"}}, &o, &message)); // empty: unset
    CHECK(o.stress == 0);
    CHECK(o.walker == gcwalk::WalkerKind::Fast);
    REQUIRE(parse({{"GCWALK_WALK_CACHE", "0"}}, &o, &message));
    CHECK_FALSE(o.walk_cache);
}

TEST_CASE("invalid values name the variable, the value and what is accepted") {
    Options o;
    std::string message;
    CHECK_FALSE(parse({{"GCWALK_HEAP_MB", "64k"}}, &o, &message));
    CHECK(message == "gcwalk-rt: invalid GCWALK_HEAP_MB=\"64k\": expected a whole number of MiB "
                     "from 1 to 1048576");
    CHECK_FALSE(parse({{"GCWALK_HEAP_MB", "0"}}, &o, &message));
    CHECK_FALSE(parse({{"GCWALK_HEAP_MB", "1048577"}}, &o, &message));
    CHECK_FALSE(parse({{"GCWALK_HEAP_MB", "-5"}}, &o, &message));
    CHECK_FALSE(
        parse({{"GCWALK_STRESS", "99999999999999999999999"}}, &o, &message)); // overflows u64
    CHECK(message.find("GCWALK_STRESS") != std::string::npos);
    CHECK_FALSE(parse({{"GCWALK_STRESS", "4294967296"}}, &o, &message));
    CHECK_FALSE(parse({{"GCWALK_WALKER", "Fast"}}, &o, &message));
    CHECK(message == "gcwalk-rt: invalid GCWALK_WALKER=\"Fast\": expected libunwind or fast");
    CHECK_FALSE(parse({{"GCWALK_VERIFY", "yes"}}, &o, &message));
    CHECK(message == "gcwalk-rt: invalid GCWALK_VERIFY=\"yes\": expected 0 or 1");
    CHECK_FALSE(parse({{"GCWALK_STATS", "2"}}, &o, &message));
    CHECK_FALSE(parse({{"GCWALK_WALK_CACHE", "on"}}, &o, &message));
    CHECK(message == "gcwalk-rt: invalid GCWALK_WALK_CACHE=\"on\": expected 0 or 1");
    CHECK_FALSE(parse({{"GCWALK_TEST_SKIP_ROOT", "true"}}, &o, &message));
}
