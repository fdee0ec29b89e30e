// The runtime's settings, read once from the environment at start (GCWALK_HEAP_MB, GCWALK_STRESS,
// GCWALK_WALKER, GCWALK_WALK_CACHE, GCWALK_VERIFY, GCWALK_STATS, GCWALK_TEST_SKIP_ROOT).
#pragma once

#include <gcwalk/walker.hpp>

#include <cstdint>
#include <string>

namespace gcwalk::rt {

struct Options {
    uint64_t heap_mb = 64; // size of each semispace, in MiB
    uint64_t stress = 0;   // collect on every N-th alloc/safepoint call (0: when the heap fills)
    WalkerKind walker = WalkerKind::Fast; // the fastest correct one unless GCWALK_WALKER says
    bool walker_requested = false;        // GCWALK_WALKER was set
    bool walk_cache = true;               // a WalkCache per thread (fast walker only)
    bool verify = false;                  // walk with both walkers and compare
    bool stats = false;                   // print totals at exit
    bool skip_root = false; // test only: leave the first root of a collection unrelocated
};

// Reads the variables from `getenv`. Returns false with a one-line message (naming the variable,
// its value and what is accepted) on an invalid value; unset or empty variables keep the default.
bool parse_options(const char* (*getenv_fn)(const char*), Options* out, std::string* message);

} // namespace gcwalk::rt
