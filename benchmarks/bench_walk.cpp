// Walk benchmarks on real LLVM-compiled frames (rings of 64 distinct managed functions, generated
// and compiled by opt-14/llc-14 at build time) at depths 10 to 10,000 with 0, 2 and 8 roots per
// frame: the fast walker and the libunwind walker (each resolving every root slot), a bare unw_step
// loop, a frame-pointer walk and a conservative scan of the same stack range, timed on the same
// frozen stack in the same run; the fast walker's benchmark also reports the ratios.
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <gcwalk/image_registry.hpp>
#include <gcwalk/roots.hpp>
#include <gcwalk/walker.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstring>

extern "C" {
void bw0_0(int64_t n, gcwalk::SafepointFn fn, void* arg);
void bw2_0(void*, void*, int64_t n, gcwalk::SafepointFn fn, void* arg);
void bw8_0(void*, void*, void*, void*, void*, void*, void*, void*, int64_t n, gcwalk::SafepointFn fn, void* arg);
void bw_use(void* p) { benchmark::DoNotOptimize(p); }
}

namespace {

gcwalk::ImageRegistry& registry() {
    static gcwalk::ImageRegistry* r = [] {
        auto* reg = new gcwalk::ImageRegistry;
        if (auto st = reg->rescan(); !st) std::fprintf(stderr, "rescan: %s\n", st.message().c_str());
        for (const auto& d : reg->diagnostics()) std::fprintf(stderr, "registry: %s\n", d.c_str());
        return reg;
    }();
    return *r;
}

// The "heap" the roots point into, for the conservative scan's range check.
alignas(64) char g_heap[8][64];

enum Kind { kFast, kLibunwindWalker, kUnwStep, kFramePointer, kConservative, kNumKinds };
const char* const kKindName[kNumKinds] = {"fast", "libunwind_walker", "unw_step", "frame_pointer", "conservative"};

// Walks the managed frames with a Walker and resolves every root slot, reading its value.
uint64_t walk_roots(const gcwalk::SafepointContext& ctx, const gcwalk::WalkOptions& opts, uint64_t* roots) {
    const gcwalk::FrameIndex& index = registry().index();
    uint64_t frames = 0, n = 0, sum = 0;
    gcwalk::Walker w(ctx, index, opts);
    for (; w.valid(); w.next()) {
        ++frames;
        for (const gcwalk::RootPair& p : index.roots(*w.frame().site)) {
            void** slot = gcwalk::resolve_root(w, p.base);
            sum += reinterpret_cast<uintptr_t>(*slot);
            ++n;
        }
    }
    benchmark::DoNotOptimize(sum);
    *roots = n;
    return frames;
}

uint64_t unw_step_loop(const gcwalk::SafepointContext& ctx, uint64_t stop_sp) {
    unw_cursor_t c;
    unw_init_local(&c, reinterpret_cast<unw_context_t*>(const_cast<unsigned char*>(ctx.unwind_context)));
    uint64_t frames = 0;
    unw_word_t ip = 0, sp = 0;
    while (unw_step(&c) > 0) {
        unw_get_reg(&c, UNW_REG_IP, &ip);
        unw_get_reg(&c, UNW_REG_SP, &sp);
        if (sp > stop_sp) break;
        ++frames;
    }
    benchmark::DoNotOptimize(ip);
    return frames;
}

// The innermost managed frame called the stub directly, which saved that frame's RBP at CFA-16.
// The chain is followed for the managed frames only: the C++ frame below them has no frame pointer.
uint64_t frame_pointer_walk(const gcwalk::SafepointContext& ctx, uint64_t managed_frames) {
    const uint64_t* fp;
    std::memcpy(&fp, reinterpret_cast<const void*>(ctx.caller_sp - 16), sizeof fp);
    uint64_t frames = 0, ra_sum = 0;
    while (frames < managed_frames) {
        ra_sum += fp[1];
        fp = reinterpret_cast<const uint64_t*>(fp[0]);
        ++frames;
    }
    benchmark::DoNotOptimize(ra_sum);
    return frames;
}

uint64_t conservative_scan(const gcwalk::SafepointContext& ctx, uint64_t stop_sp, uint64_t* words) {
    const auto lo = reinterpret_cast<uint64_t>(g_heap), hi = lo + sizeof g_heap;
    uint64_t hits = 0;
    const auto* p = reinterpret_cast<const uint64_t*>(ctx.caller_sp);
    const auto* end = reinterpret_cast<const uint64_t*>(stop_sp);
    for (; p < end; ++p) hits += *p - lo < hi - lo;
    *words = static_cast<uint64_t>(end - reinterpret_cast<const uint64_t*>(ctx.caller_sp));
    benchmark::DoNotOptimize(hits);
    return hits;
}

struct Run {
    benchmark::State* state;
    Kind kind;
    int64_t depth;
};

// One walk of `kind`; returns frames (or words scanned) and sets roots.
uint64_t g_managed_frames = 0; // of the stack being measured

uint64_t walk_once(Kind kind, const gcwalk::SafepointContext& ctx, uint64_t stop_sp, uint64_t* roots) {
    gcwalk::WalkOptions opts;
    opts.stop_sp = stop_sp;
    *roots = 0;
    switch (kind) {
    case kFast: opts.walker = gcwalk::WalkerKind::Fast; return walk_roots(ctx, opts, roots);
    case kLibunwindWalker: opts.walker = gcwalk::WalkerKind::Libunwind; return walk_roots(ctx, opts, roots);
    case kUnwStep: return unw_step_loop(ctx, stop_sp);
    case kFramePointer: return frame_pointer_walk(ctx, g_managed_frames);
    case kConservative: { uint64_t words = 0; conservative_scan(ctx, stop_sp, &words); *roots = words; return 0; }
    default: return 0;
    }
}

// ns per walk of `kind`, the best of a few timed batches (for the ratios).
double time_walk(Kind kind, const gcwalk::SafepointContext& ctx, uint64_t stop_sp) {
    double best = 1e300;
    for (int batch = 0; batch < 5; ++batch) {
        uint64_t roots = 0;
        int reps = 0;
        const auto t0 = std::chrono::steady_clock::now();
        auto t1 = t0;
        do {
            walk_once(kind, ctx, stop_sp, &roots);
            ++reps;
            t1 = std::chrono::steady_clock::now();
        } while (t1 - t0 < std::chrono::milliseconds(4));
        best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count() / reps);
    }
    return best;
}

void in_stub(gcwalk::SafepointContext* ctx, void* arg) {
    Run& run = *static_cast<Run*>(arg);
    benchmark::State& state = *run.state;
    // The managed frames end at the outermost one's SP: found once with the libunwind walker.
    uint64_t stop_sp = 0, frames = 0;
    {
        gcwalk::Walker w(*ctx, registry().index(), {});
        for (; w.valid(); w.next()) stop_sp = w.frame().sp, ++frames;
        if (w.failed() || frames != static_cast<uint64_t>(run.depth) + 1) {
            state.SkipWithError("calibration walk failed or saw the wrong number of frames");
            for (auto _ : state) {}
            return;
        }
    }
    g_managed_frames = frames;
    uint64_t roots = 0, count = 0;
    for (auto _ : state) count = walk_once(run.kind, *ctx, stop_sp, &roots);
    if (run.kind == kConservative) {
        state.counters["ns_per_word"] = benchmark::Counter(static_cast<double>(roots) * 1e-9,
            benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
        state.counters["words"] = static_cast<double>(roots);
    } else {
        if (count != frames) state.SkipWithError("the walk saw a different number of frames");
    }
    state.counters["frames"] = static_cast<double>(frames);
    state.counters["ns_per_frame"] = benchmark::Counter(static_cast<double>(frames) * 1e-9,
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    if (run.kind == kFast || run.kind == kLibunwindWalker) state.counters["roots"] = static_cast<double>(roots);
    if (run.kind == kFast) {
        // The other walks of the same stack, timed here: how many times slower each is.
        const double fast = time_walk(kFast, *ctx, stop_sp);
        for (Kind k : {kLibunwindWalker, kUnwStep, kFramePointer, kConservative})
            state.counters[std::string("x_") + kKindName[k]] = time_walk(k, *ctx, stop_sp) / fast;
    }
}

void BM_Walk(benchmark::State& state) {
    Run run{&state, static_cast<Kind>(state.range(0)), state.range(1)};
    const int64_t roots = state.range(2);
    state.SetLabel(kKindName[run.kind]);
    void* h[8];
    for (int i = 0; i < 8; ++i) h[i] = g_heap[i];
    if (roots == 0) bw0_0(run.depth, in_stub, &run);
    else if (roots == 2) bw2_0(h[0], h[1], run.depth, in_stub, &run);
    else bw8_0(h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], run.depth, in_stub, &run);
}

void walk_args(benchmark::internal::Benchmark* b) {
    for (int kind = 0; kind < kNumKinds; ++kind)
        for (int64_t depth : {10, 100, 1000, 10000})
            for (int64_t roots : {0, 2, 8}) {
                // libunwind at depth 10,000 costs ~7 ms a walk: fewer shapes there.
                if (depth == 10000 && roots != 2 && kind != kFast) continue;
                b->Args({kind, depth, roots});
            }
    b->ArgNames({"kind", "depth", "roots"});
}
BENCHMARK(BM_Walk)->Apply(walk_args)->Unit(benchmark::kMicrosecond);

// The fixed cost of one walk: entering the stub (pushes, context capture), the walker's setup and
// a one-frame walk, from a managed frame that calls the stub directly.
void one_frame(gcwalk::SafepointContext* ctx, void* arg) {
    auto* opts = static_cast<gcwalk::WalkOptions*>(arg);
    opts->stop_sp = ctx->caller_sp; // just the innermost managed frame
    uint64_t roots = 0;
    benchmark::DoNotOptimize(walk_roots(*ctx, *opts, &roots));
}
void BM_WalkFixedCost(benchmark::State& state) {
    gcwalk::WalkOptions opts;
    opts.walker = state.range(0) ? gcwalk::WalkerKind::Fast : gcwalk::WalkerKind::Libunwind;
    state.SetLabel(state.range(0) ? "fast" : "libunwind_walker");
    registry();
    for (auto _ : state) bw0_0(0, one_frame, &opts);
}
BENCHMARK(BM_WalkFixedCost)->Arg(1)->Arg(0);

} // namespace

BENCHMARK_MAIN();
