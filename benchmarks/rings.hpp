// What every benchmark on the llc-compiled rings needs (benchmarks/CMakeLists.txt generates them):
// the rings' entry points, the helpers their IR calls, their shape, and the process's registry.
// The helpers (bw_int, bw_use, bw_use_int) are defined here: include this header in one source
// file of each benchmark binary. bw_obj, the ring's objects, is each benchmark's own.
#pragma once

#include <gcwalk/image_registry.hpp>
#include <gcwalk/safepoint.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>

extern "C" {
void bw0_0(int64_t n, gcwalk::SafepointFn fn, void* arg); // frame pointers
void bw2_0(int64_t n, gcwalk::SafepointFn fn, void* arg);
void bw8_0(int64_t n, gcwalk::SafepointFn fn, void* arg);
void bwm_0(int64_t n, gcwalk::SafepointFn fn, void* arg); // mixed frames, frame pointers
void bn0_0(int64_t n, gcwalk::SafepointFn fn, void* arg); // no frame pointers
void bn2_0(int64_t n, gcwalk::SafepointFn fn, void* arg);
void bn8_0(int64_t n, gcwalk::SafepointFn fn, void* arg);
void bnm_0(int64_t n, gcwalk::SafepointFn fn, void* arg); // mixed frames, no frame pointers
void* bw_obj(int64_t n, int64_t j);                       // frame n's j-th GC pointer
int64_t bw_int(int64_t n, int64_t j) {
    return n * 8 + j;
}
void bw_use(void* p) {
    benchmark::DoNotOptimize(p);
}
void bw_use_int(int64_t v) {
    benchmark::DoNotOptimize(v);
}
}

namespace rings {

constexpr int64_t kMaxDepth = 10000;
constexpr int64_t kMaxRoots = 8;
constexpr int64_t kMixed = -1; // the `roots` argument of the mixed ring
constexpr int64_t kRing = 64;  // functions per ring

// GC pointers of function i of the ring `shape` (0, 2, 8 or kMixed: i * 7 mod 9).
inline int64_t frame_roots(int64_t shape, int64_t i) {
    return shape == kMixed ? i * 7 % 9 : shape;
}
// GC pointers of a whole stack: the outermost frame is function 0, the innermost function `depth`
// mod 64.
inline uint64_t expected_roots(int64_t shape, int64_t depth) {
    uint64_t n = 0;
    for (int64_t t = 0; t <= depth; ++t) n += static_cast<uint64_t>(frame_roots(shape, t % kRing));
    return n;
}

// The registry of this process's stack maps (the rings'), scanned once.
inline gcwalk::ImageRegistry& registry() {
    static gcwalk::ImageRegistry* r = [] {
        auto* reg = new gcwalk::ImageRegistry;
        if (auto st = reg->rescan(); !st)
            std::fprintf(stderr, "rescan: %s\n", st.message().c_str());
        for (const auto& d : reg->diagnostics()) std::fprintf(stderr, "registry: %s\n", d.c_str());
        return reg;
    }();
    return *r;
}

} // namespace rings
