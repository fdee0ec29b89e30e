// Parsing of the runtime's environment variables: strict (a typo stops the program at start).
#include "options.hpp"

#include <cstring>

namespace gcwalk::rt {
namespace {

// A whole decimal number in [lo, hi]; no sign, spaces or suffixes.
bool parse_number(const char* s, uint64_t lo, uint64_t hi, uint64_t* out) {
    if (*s == 0) return false;
    uint64_t v = 0;
    for (; *s; ++s) {
        if (*s < '0' || *s > '9') return false;
        if (v > (hi - static_cast<uint64_t>(*s - '0')) / 10) return false; // would exceed hi
        v = v * 10 + static_cast<uint64_t>(*s - '0');
    }
    if (v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool parse_flag(const char* s, bool* out) {
    if (std::strcmp(s, "0") == 0) {
        *out = false;
        return true;
    }
    if (std::strcmp(s, "1") == 0) {
        *out = true;
        return true;
    }
    return false;
}

std::string invalid(const char* name, const char* value, const char* accepted) {
    return std::string("gcwalk-rt: invalid ") + name + "=\"" + value + "\": expected " + accepted;
}

} // namespace

bool parse_options(const char* (*getenv_fn)(const char*), Options* out, std::string* message) {
    Options o;
    auto get = [&](const char* name) -> const char* {
        const char* v = getenv_fn(name);
        return v && *v ? v : nullptr;
    };
    if (const char* v = get("GCWALK_HEAP_MB"); v && !parse_number(v, 1, 1u << 20, &o.heap_mb)) {
        *message = invalid("GCWALK_HEAP_MB", v, "a whole number of MiB from 1 to 1048576");
        return false;
    }
    if (const char* v = get("GCWALK_STRESS"); v && !parse_number(v, 1, UINT32_MAX, &o.stress)) {
        *message = invalid("GCWALK_STRESS", v,
                           "a whole number from 1 (collect at every call) to 4294967295");
        return false;
    }
    if (const char* v = get("GCWALK_WALKER")) {
        if (std::strcmp(v, "libunwind") == 0) {
            o.walker = WalkerKind::Libunwind;
        } else if (std::strcmp(v, "fast") == 0) {
            o.walker = WalkerKind::Fast;
        } else {
            *message = invalid("GCWALK_WALKER", v, "libunwind or fast");
            return false;
        }
        o.walker_requested = true;
    }
    if (const char* v = get("GCWALK_WALK_CACHE"); v && !parse_flag(v, &o.walk_cache)) {
        *message = invalid("GCWALK_WALK_CACHE", v, "0 or 1");
        return false;
    }
    if (const char* v = get("GCWALK_VERIFY"); v && !parse_flag(v, &o.verify)) {
        *message = invalid("GCWALK_VERIFY", v, "0 or 1");
        return false;
    }
    if (const char* v = get("GCWALK_STATS"); v && !parse_flag(v, &o.stats)) {
        *message = invalid("GCWALK_STATS", v, "0 or 1");
        return false;
    }
    if (const char* v = get("GCWALK_TEST_SKIP_ROOT"); v && !parse_flag(v, &o.skip_root)) {
        *message = invalid("GCWALK_TEST_SKIP_ROOT", v, "0 or 1");
        return false;
    }
    *out = o;
    return true;
}

} // namespace gcwalk::rt
