// The real conservative peer: Boehm GC's GC_gcollect() with a frozen stack of llc-compiled managed
// frames (bench_walk's rings of 64 functions, the same IR objects) on the collecting thread's
// stack, beside gcwalk's fast walker marking the roots of the very same frames into Boehm's own
// mark bits, in one run.
//
// What is measured: a full collection costs the same at every depth except for the stack, so the
// stack's share is GC_gcollect() at depth D minus GC_gcollect() at depth 10 (kShallow), the ring
// called from the same frame so that the outermost managed frame sits at the same address and the
// difference is exactly the extra managed frames' words. Every object the frames point to is a
// GC_MALLOC object, and all (kMaxDepth + 1) * 8 of them are also held by an uncollectable table,
// so the live heap (and the marking, tracing and sweeping of it) is the same at both depths; what
// remains in the difference is what the stack scan adds: every extra word read and checked
// against the heap, and for a word that points at an object, its header found and its mark bit
// tested (set there, found set later from the table). The fast walker is timed the same way
// (depth D minus depth 10), marking each root's object in Boehm's mark bits (x_fast: Boehm's
// difference over the walker's) or only reading each root slot (x_fast_visit). The two depths
// alternate round by round; a round times each depth's best of a few single collections and of a
// few batches of walks (no clock read inside a walk), and the figures are the medians of the
// rounds' differences. The benchmark's own time is one GC_gcollect() at depth D, the whole
// collection.
//
// The frames are on the stack of the thread calling GC_gcollect (this benchmark's, the process's
// main thread, whose stack base GC_INIT found): Boehm scans it from its current SP to that base,
// so nothing is registered with GC_add_roots (that would scan the frames twice); check_scanned
// proves, once per benchmark, that objects held only by the managed frames survive.
#define GC_THREADS
#include <gc/gc.h>
#include <gc/gc_mark.h>

#include <gcwalk/image_registry.hpp>
#include <gcwalk/roots.hpp>
#include <gcwalk/walker.hpp>

#include "rings.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using namespace rings; // NOLINT: the rings' shape and registry (rings.hpp)

constexpr int64_t kShallow = 10;
constexpr int kRounds = 30; // of the two depths, alternated

// The objects the ring's frames keep live: frame n's j-th GC pointer, a GC_MALLOC object of 16 to
// 64 bytes (most objects of a managed heap are small; larger ones only add marking time common to
// both depths, the noise the difference has to see through). The table is uncollectable (Boehm
// scans it) so that the heap is the same at every depth.
void** ring_objects() {
    static void** objs = [] {
        constexpr size_t n = (kMaxDepth + 1) * kMaxRoots;
        auto** v = static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(n * sizeof(void*)));
        constexpr size_t kSizes[] = {16, 32, 48, 64};
        uint64_t x = 0x9E3779B97F4A7C15ull;
        for (size_t i = 0; i < n; ++i) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            v[i] = GC_MALLOC(kSizes[x % std::size(kSizes)]);
        }
        return v;
    }();
    return objs;
}

} // namespace

extern "C" void* bw_obj(int64_t n, int64_t j) {
    return ring_objects()[n * kMaxRoots + j];
}

namespace {

// The fast walker as a precise collector would use it on Boehm's heap: every root's object marked
// in Boehm's mark bits (GC_set_mark_bit, an out-of-line call that finds the block header, under
// the allocation lock it requires); with `mark` false, every root slot read only (bench_walk's
// `fast`). The bits stay set between walks, as in bench_walk's fast_mark; GC_gcollect clears them
// before it marks.
struct FastWalk {
    const gcwalk::SafepointContext* ctx;
    uint64_t stop_sp, frames, roots;
    bool mark;
};
void* fast_walk_locked(void* arg) {
    auto& w = *static_cast<FastWalk*>(arg);
    gcwalk::WalkOptions opts;
    opts.walker = gcwalk::WalkerKind::Fast;
    opts.stop_sp = w.stop_sp;
    gcwalk::WalkStats stats;
    uint64_t sum = 0;
    if (w.mark) {
        gcwalk::for_each_root(
            *w.ctx, registry().index(),
            [](void** slot) {
                if (void* obj = *slot) GC_set_mark_bit(obj);
            },
            opts, &stats, nullptr);
    } else {
        gcwalk::for_each_root(
            *w.ctx, registry().index(),
            [&](void** slot) { sum += reinterpret_cast<uintptr_t>(*slot); }, opts, &stats, nullptr);
    }
    uint64_t result = sum; // sum's address must not escape, or the visitor keeps it in memory
    benchmark::DoNotOptimize(result);
    w.frames = stats.frames;
    w.roots = stats.roots;
    return nullptr;
}
void fast_walk(FastWalk* w) {
    GC_call_with_alloc_lock(fast_walk_locked, w);
}

// ns per call of f, the best of `batches` timed batches of at least `min_ms` each (0: one call).
template <class F> double best_ns(F&& f, int batches, int min_ms) {
    double best = 1e300;
    for (int batch = 0; batch < batches; ++batch) {
        int reps = 0;
        const auto t0 = std::chrono::steady_clock::now();
        auto t1 = t0;
        do {
            f();
            ++reps;
            t1 = std::chrono::steady_clock::now();
        } while (t1 - t0 < std::chrono::milliseconds(min_ms));
        best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count() / reps);
    }
    return best;
}

// One stop of a ring at a safepoint: what it measured there.
struct Probe {
    benchmark::State* state = nullptr;
    int64_t depth = 0, shape = 0;
    bool timed_loop = false; // run the benchmark's own iterations (GC_gcollect) here
    bool ok = false;
    uint64_t caller_sp = 0, frames = 0, roots = 0;
    double gc_ns = 0, fast_ns = 0, visit_ns = 0;
};

// Objects held only by the outermost 64 managed frames (their table entries hidden for one
// collection) are marked by GC_gcollect only if Boehm scanned those frames.
bool check_scanned(const Probe& p) {
    void** table = ring_objects();
    GC_word hidden[kRing * kMaxRoots];
    int count = 0;
    for (int64_t t = 0; t < kRing && t <= p.depth; ++t)
        for (int64_t j = 0; j < frame_roots(p.shape, t); ++j) {
            void*& e = table[(p.depth - t) * kMaxRoots + j];
            hidden[count++] = GC_HIDE_POINTER(e);
            e = nullptr;
        }
    GC_gcollect();
    bool all = true;
    int i = 0;
    for (int64_t t = 0; t < kRing && t <= p.depth; ++t)
        for (int64_t j = 0; j < frame_roots(p.shape, t); ++j) {
            void* obj = GC_REVEAL_POINTER(hidden[i++]);
            all &= GC_is_marked(obj) != 0;
            table[(p.depth - t) * kMaxRoots + j] = obj;
        }
    return all && count > 0;
}

void in_stub(gcwalk::SafepointContext* ctx, void* arg) {
    Probe& p = *static_cast<Probe*>(arg);
    FastWalk w{ctx, 0, 0, 0, true};
    {
        gcwalk::Walker walker(*ctx, registry().index(), {}); // the outermost managed frame's SP
        for (; walker.valid(); walker.next()) w.stop_sp = walker.frame().sp, ++p.frames;
        if (walker.failed() || p.frames != static_cast<uint64_t>(p.depth) + 1) return;
    }
    p.caller_sp = ctx->caller_sp;
    fast_walk(&w);
    if (w.frames != p.frames || w.roots != expected_roots(p.shape, p.depth)) return;
    p.roots = w.roots;
    if (p.timed_loop) {
        if (!check_scanned(p)) return;
        for (auto _ : *p.state) GC_gcollect();
    }
    // Single collections (about 2 ms, most of them between two preemptions on a loaded machine);
    // walks in 1 ms batches.
    p.gc_ns = best_ns([] { GC_gcollect(); }, 4, 0);
    p.fast_ns = best_ns([&] { fast_walk(&w); }, 3, 1);
    FastWalk visit = w;
    visit.mark = false;
    p.visit_ns = best_ns([&] { fast_walk(&visit); }, 3, 1);
    p.ok = true;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

using Ring = void (*)(int64_t, gcwalk::SafepointFn, void*);

// Every ring is entered from this one frame, so the outermost managed frame's address is the same
// at every depth.
__attribute__((noinline)) void enter_ring(Ring ring, Probe* p) {
    ring(p->depth, in_stub, p);
    benchmark::ClobberMemory();
}

void BM_BoehmCollect(benchmark::State& state) {
    const bool fp = state.range(0) != 0;
    const int64_t depth = state.range(1), shape = state.range(2);
    state.SetLabel(std::string("GC_gcollect") + (shape == kMixed ? ", mixed frames" : "") +
                   (fp ? "" : ", no frame pointers"));
    ring_objects();
    registry();
    const Ring rings[2][3] = {{bn2_0, bn8_0, bnm_0}, {bw2_0, bw8_0, bwm_0}};
    const Ring ring = rings[fp][shape == 2 ? 0 : shape == 8 ? 1 : 2];
    // The two depths alternated round by round, so that load on the machine hits both alike: each
    // round's difference is of the best of each depth in that round, and the figures are the
    // medians of the rounds' differences (one round preempted or slowed by a neighbour moves
    // them little).
    Probe deep, shallow;
    std::vector<double> gc, fast, visit;
    for (int round = 0; round < kRounds; ++round) {
        deep = {&state, depth, shape, round == 0}, shallow = {&state, kShallow, shape, false};
        enter_ring(ring, &shallow);
        enter_ring(ring, &deep);
        if (!deep.ok || !shallow.ok) {
            state.SkipWithError(deep.roots && !deep.ok
                                    ? "Boehm did not scan the managed frames"
                                    : "the walk saw a different number of frames or roots");
            if (round == 0 && !deep.ok) // the benchmark loop did not run
                for (auto _ : state) {
                }
            return;
        }
        gc.push_back(deep.gc_ns - shallow.gc_ns);
        fast.push_back(deep.fast_ns - shallow.fast_ns);
        visit.push_back(deep.visit_ns - shallow.visit_ns);
    }
    if (deep.caller_sp >= shallow.caller_sp) {
        state.SkipWithError("the deep stack is not below the shallow one");
        return;
    }
    const double words = static_cast<double>(shallow.caller_sp - deep.caller_sp) / 8;
    const double frames = static_cast<double>(deep.frames - shallow.frames);
    const double gc_ns = median(gc), fast_ns = median(fast), visit_ns = median(visit);
    state.counters["frames"] = frames;
    state.counters["words"] = words;
    state.counters["roots"] = static_cast<double>(deep.roots - shallow.roots);
    state.counters["heap_objects"] = static_cast<double>((kMaxDepth + 1) * kMaxRoots);
    state.counters["gc_us_shallow"] = shallow.gc_ns * 1e-3; // the last round's
    state.counters["gc_us_stack"] = gc_ns * 1e-3;
    state.counters["ns_per_word"] = gc_ns / words;
    state.counters["ns_per_frame"] = gc_ns / frames;
    state.counters["fast_ns_per_frame"] = fast_ns / frames;
    state.counters["fast_visit_ns_per_frame"] = visit_ns / frames;
    state.counters["x_fast"] = gc_ns / fast_ns;
    state.counters["x_fast_visit"] = gc_ns / visit_ns;
}

void boehm_args(benchmark::internal::Benchmark* b) {
    for (int64_t fp : {1, 0})
        for (int64_t depth : {int64_t{1000}, kMaxDepth})
            for (int64_t roots : {int64_t{2}, int64_t{8}, kMixed}) b->Args({fp, depth, roots});
    b->ArgNames({"fp", "depth", "roots"});
}
BENCHMARK(BM_BoehmCollect)->Apply(boehm_args)->Unit(benchmark::kMicrosecond)->Iterations(20);

} // namespace

int main(int argc, char** argv) {
    GC_set_markers_count(1); // one marker thread, as the walker is one thread (and 2 cores shared)
    GC_INIT();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
