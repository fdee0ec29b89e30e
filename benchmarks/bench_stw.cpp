// Stop the world with T = 1 to 64 mutator threads, each of which recursed through the ring of 64
// managed functions without frame pointers (benchmarks/CMakeLists.txt) to 100 or 10,000 frames,
// with 2 GC pointers per frame or the ring's mixed frames (0-8 pointers), and sits in
// gcwalk_safepoint_enter's callback polling a flag (a pause loop with a sched_yield every 64
// polls, as a mutator's safepoint poll in a running loop).
//  - BM_TimeToSafepoint: from setting the flag until all T threads have published their
//    SafepointContext (each then sleeps on a futex until released). The stub's own entry is not
//    in it (BM_WalkFixedCost in bench_walk). With more threads than cores it is the time for the
//    scheduler to run every polling thread once.
//  - BM_RootPhase: every parked stack walked with gcwalk::for_each_root (each root slot read) by
//    G = 1, 2 or 4 GC threads claiming whole stacks from a shared counter, the FrameIndex shared
//    and read-only. scaling = the phase by one GC thread / by G (medians of 5 alternated batches
//    in the same run); cores_used = the process's CPU time / wall time over the timed loop.
// The VM has 2 cores, shared with other builds: 2 GC threads can at best halve the phase, and do
// only when the second core is free (cores_used says whether it was); 4 add no core, only time
// slices and threads to wait for; a stack is never split, so T = 1 cannot scale.
// Each phase is timed with one clock pair (manual time); every walk's frames and roots are checked.
#include <gcwalk/image_registry.hpp>
#include <gcwalk/roots.hpp>
#include <gcwalk/safepoint.hpp>
#include <gcwalk/walker.hpp>

#include "rings.hpp"

#include <benchmark/benchmark.h>

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace rings; // NOLINT: the rings' shape and registry (rings.hpp)

// The objects the frames keep live (never dereferenced here: the walk reads the slots).
std::vector<uint64_t>& objects() {
    static auto* v = new std::vector<uint64_t>((kMaxDepth + 1) * kMaxRoots * 2);
    return *v;
}

} // namespace

extern "C" void* bw_obj(int64_t n, int64_t j) {
    return &objects()[static_cast<size_t>(n * kMaxRoots + j) * 2];
}

namespace {

// A spin-wait step: pause, and every 64 steps give the core away (2 cores, many threads).
inline void spin(unsigned& i) {
    __builtin_ia32_pause();
    if (++i % 64 == 0) sched_yield();
}

class World;

struct alignas(64) Mutator {
    World* world = nullptr;
    std::thread thread;
    gcwalk::SafepointContext* ctx = nullptr; // valid while the thread is parked
    uint64_t stop_sp = 0;                    // the outermost managed frame's SP (calibrate)
};

// T mutator threads on managed stacks of depth + 1 frames, polling inside the stub's callback.
class World {
  public:
    World(int threads, int64_t depth, int64_t shape) : depth_(depth), mutators_(threads) {
        registry(); // before any stack exists
        objects();
        const auto ring = shape == kMixed ? bnm_0 : bn2_0;
        for (Mutator& m : mutators_) {
            m.world = this;
            m.thread = std::thread([this, &m, ring] { ring(depth_, poll_loop, &m); });
        }
        unsigned i = 0;
        while (running_.load() < mutators_.size()) spin(i);
    }
    ~World() {
        if (!parked()) request(), wait_parked();
        quit_.store(true);
        release_gen_.fetch_add(1);
        release_gen_.notify_all();
        for (Mutator& m : mutators_) m.thread.join();
    }
    size_t size() const { return mutators_.size(); }
    Mutator& operator[](size_t i) { return mutators_[i]; }

    void request() { request_.store(true); }
    void wait_parked() {
        unsigned i = 0;
        while (parked_.load() < mutators_.size()) spin(i);
    }
    bool parked() const { return parked_.load() == mutators_.size(); }
    // Wakes every parked thread and returns once all are polling again.
    void release() {
        request_.store(false);
        parked_.store(0);
        running_.store(0);
        release_gen_.fetch_add(1);
        release_gen_.notify_all();
        unsigned i = 0;
        while (running_.load() < mutators_.size()) spin(i);
    }
    // Each parked stack's outermost managed frame, found by a walk; false unless every stack has
    // depth + 1 managed frames.
    bool calibrate() {
        for (Mutator& m : mutators_) {
            gcwalk::WalkOptions opts;
            opts.walker = gcwalk::WalkerKind::Fast;
            gcwalk::Walker w(*m.ctx, registry().index(), opts);
            uint64_t frames = 0;
            for (; w.valid(); w.next()) m.stop_sp = w.frame().sp, ++frames;
            if (w.failed() || frames != static_cast<uint64_t>(depth_) + 1) return false;
        }
        return true;
    }

  private:
    // The innermost managed frame's call of gcwalk_safepoint_enter runs this until the world ends.
    static void poll_loop(gcwalk::SafepointContext* ctx, void* arg) {
        Mutator& m = *static_cast<Mutator*>(arg);
        World& w = *m.world;
        m.ctx = ctx;
        w.running_.fetch_add(1);
        for (;;) {
            unsigned i = 0;
            while (!w.request_.load(std::memory_order_acquire)) spin(i);
            const uint32_t gen = w.release_gen_.load(); // before parking: no release is missed
            w.parked_.fetch_add(1);                     // publishes m.ctx
            w.release_gen_.wait(gen);                   // a futex wait
            if (w.quit_.load()) return;
            w.running_.fetch_add(1);
        }
    }

    int64_t depth_;
    std::vector<Mutator> mutators_;
    alignas(64) std::atomic<bool> request_{false};
    alignas(64) std::atomic<size_t> parked_{0};
    alignas(64) std::atomic<size_t> running_{0};
    alignas(64) std::atomic<uint32_t> release_gen_{0};
    std::atomic<bool> quit_{false};
};

struct alignas(64) WalkResult {
    uint64_t frames = 0, roots = 0;
    bool ok = false;
};

// One stack's root phase: every root slot read.
void walk_stack(const Mutator& m, const gcwalk::FrameIndex& index, WalkResult* r) {
    gcwalk::WalkOptions opts;
    opts.walker = gcwalk::WalkerKind::Fast;
    opts.stop_sp = m.stop_sp;
    gcwalk::WalkStats stats;
    uint64_t sum = 0;
    r->ok = gcwalk::for_each_root(
        *m.ctx, index, [&](void** slot) { sum += reinterpret_cast<uintptr_t>(*slot); }, opts,
        &stats, nullptr);
    uint64_t result = sum; // sum's address must not escape, or the visitor keeps it in memory
    benchmark::DoNotOptimize(result);
    r->frames = stats.frames;
    r->roots = stats.roots;
}

// G GC threads: the calling thread and G - 1 helpers spinning for work between phases. A phase
// hands out the world's stacks one at a time from a shared counter and ends when all are walked.
class GcTeam {
  public:
    GcTeam(World& world, int gc_threads) : world_(world), results_(world.size()) {
        for (int h = 1; h < gc_threads; ++h) helpers_.emplace_back([this] { help(); });
    }
    ~GcTeam() {
        stop_.store(true);
        gen_.fetch_add(1);
        for (std::thread& t : helpers_) t.join();
    }
    void phase() {
        done_.store(0);
        next_.store(0);
        gen_.fetch_add(1);
        work();
        unsigned i = 0;
        while (done_.load() < world_.size()) spin(i);
    }
    const std::vector<WalkResult>& results() const { return results_; }

  private:
    void work() {
        const gcwalk::FrameIndex& index = registry().index();
        for (;;) {
            const size_t s = next_.fetch_add(1);
            if (s >= world_.size()) return;
            walk_stack(world_[s], index, &results_[s]);
            done_.fetch_add(1);
        }
    }
    void help() {
        uint32_t seen = 0;
        for (;;) {
            unsigned i = 0;
            uint32_t g;
            while ((g = gen_.load()) == seen) spin(i);
            seen = g;
            if (stop_.load()) return;
            work();
        }
    }

    World& world_;
    std::vector<WalkResult> results_;
    std::vector<std::thread> helpers_;
    alignas(64) std::atomic<uint32_t> gen_{0};
    alignas(64) std::atomic<size_t> next_{0};
    alignas(64) std::atomic<size_t> done_{0};
    std::atomic<bool> stop_{false};
};

using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point t0, Clock::time_point t1) {
    return std::chrono::duration<double>(t1 - t0).count();
}

// ns per phase over a batch of phases lasting at least 5 ms.
double time_batch(GcTeam& team) {
    int reps = 0;
    const auto t0 = Clock::now();
    auto t1 = t0;
    do {
        team.phase();
        ++reps;
        t1 = Clock::now();
    } while (t1 - t0 < std::chrono::milliseconds(5));
    return seconds(t0, t1) * 1e9 / reps;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// CPU time of the whole process (every thread): read twice per benchmark, around its loop.
double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// ns per iteration of the manually timed loop (the rate counters would divide by CPU time).
double per_iteration_ns(const benchmark::State& state, double total_seconds) {
    return state.iterations() ? total_seconds * 1e9 / static_cast<double>(state.iterations()) : 0;
}

bool results_ok(const GcTeam& team, int64_t depth, int64_t shape) {
    for (const WalkResult& r : team.results())
        if (!r.ok || r.frames != static_cast<uint64_t>(depth) + 1 ||
            r.roots != expected_roots(shape, depth))
            return false;
    return true;
}

std::string shape_label(int64_t shape) {
    return shape == kMixed ? "mixed frames" : "2 roots per frame";
}

// Stops the world once and finds its stacks' ends: false, the benchmark skipped, unless every
// parked stack has depth + 1 managed frames (the stacks are real).
bool stop_and_check(benchmark::State& state, World& world) {
    world.request();
    world.wait_parked();
    if (world.calibrate()) return true;
    state.SkipWithError("a parked stack has the wrong number of frames");
    for (auto _ : state) {
    }
    return false;
}

void BM_TimeToSafepoint(benchmark::State& state) {
    const int threads = static_cast<int>(state.range(0));
    const int64_t depth = state.range(1), shape = 2;
    state.SetLabel(shape_label(shape));
    World world(threads, depth, shape);
    if (!stop_and_check(state, world)) return;
    world.release();
    double total = 0;
    for (auto _ : state) {
        const auto t0 = Clock::now();
        world.request();
        world.wait_parked();
        const auto t1 = Clock::now();
        state.SetIterationTime(seconds(t0, t1));
        total += seconds(t0, t1);
        world.release();
    }
    state.counters["threads"] = threads;
    state.counters["ns_per_thread"] = per_iteration_ns(state, total) / threads;
}
BENCHMARK(BM_TimeToSafepoint)
    ->ArgsProduct({{1, 4, 16, 64}, {100, kMaxDepth}})
    ->ArgNames({"threads", "depth"})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

void BM_RootPhase(benchmark::State& state) {
    const int threads = static_cast<int>(state.range(0));
    const int64_t depth = state.range(1), shape = state.range(2);
    const int gc_threads = static_cast<int>(state.range(3));
    state.SetLabel(shape_label(shape));
    World world(threads, depth, shape);
    if (!stop_and_check(state, world)) return;
    double total = 0, cpu = 0, wall = 0;
    bool ok = true;
    {
        GcTeam team(world, gc_threads);
        team.phase(); // warm
        const double cpu0 = process_cpu_seconds();
        const auto w0 = Clock::now();
        for (auto _ : state) {
            const auto t0 = Clock::now();
            team.phase();
            const auto t1 = Clock::now();
            state.SetIterationTime(seconds(t0, t1));
            total += seconds(t0, t1);
        }
        wall = seconds(w0, Clock::now());
        cpu = process_cpu_seconds() - cpu0;
        ok = results_ok(team, depth, shape);
    }
    if (gc_threads > 1) { // G GC threads against one, batches alternated (the load drifts)
        std::vector<double> many, one;
        for (int b = 0; b < 5; ++b) {
            {
                GcTeam team(world, gc_threads);
                many.push_back(time_batch(team));
                ok = ok && results_ok(team, depth, shape);
            }
            GcTeam alone(world, 1);
            one.push_back(time_batch(alone));
            ok = ok && results_ok(alone, depth, shape);
        }
        state.counters["ns_one_gc_thread"] = median(one);
        state.counters["scaling"] = median(one) / median(many);
    }
    if (!ok) state.SkipWithError("a walk saw a different number of frames or roots");
    // CPUs the process got while the GC threads walked (parked mutators take none; helpers
    // spinning between phases count): at most 2 here, less when the other builds take a core.
    state.counters["cores_used"] = wall > 0 ? cpu / wall : 0;
    const double stacks = threads, frames = threads * static_cast<double>(depth + 1);
    state.counters["gc_threads"] = gc_threads;
    state.counters["frames"] = frames;
    state.counters["roots"] = threads * static_cast<double>(expected_roots(shape, depth));
    state.counters["ns_per_stack"] = per_iteration_ns(state, total) / stacks;
    state.counters["ns_per_frame"] = per_iteration_ns(state, total) / frames;
}
BENCHMARK(BM_RootPhase)
    ->ArgsProduct({{1, 4, 16, 64}, {100, kMaxDepth}, {2, kMixed}, {1, 2, 4}})
    ->ArgNames({"threads", "depth", "roots", "gc"})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
