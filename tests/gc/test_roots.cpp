// Tests of root resolution and relocation on managed code compiled by opt-14/llc-14 (roots.ll),
// built three ways (GCWALK_ROOTS_VARIANT: 0 plain, 1 real derived pairs, 2 register roots): a mover
// copies every object and poisons the old copy, so a root the walk misses reads 0xdd... afterwards.
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "../process_registry.hpp"
#include <gcwalk/image_registry.hpp>
#include <gcwalk/roots.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#ifndef GCWALK_ROOTS_VARIANT
#define GCWALK_ROOTS_VARIANT 0
#endif

extern "C" {
int64_t gr_sum(int64_t a, int64_t b);
int64_t gr_derived(int64_t a);
int64_t gr_null(int64_t a);
int64_t gr_outer(int64_t a, int64_t b);
int64_t gr_many(int64_t a, void (*collect)());
void rt_collect();
void rt_collect_raw();
int64_t gr_live_512();
int64_t gr_live_513();
int64_t gr_recurse(int64_t n);
}

namespace {

constexpr uint64_t kPoison = 0xdddddddddddddddd;

using gcwalk::test::registry;

// The test heap: malloc'd blocks; moving copies to a fresh block and poisons the old one.
struct Heap {
    std::unordered_map<uintptr_t, size_t> live;     // object -> size
    std::unordered_map<uintptr_t, uintptr_t> moved; // old -> new (forwarding, this collection)
    std::vector<void*> dead;                        // poisoned blocks, freed at reset
    uint64_t moves = 0;                             // calls to move() that copied
    uint64_t forwards = 0;                          // calls to move() for an already moved object
    void reset() {
        for (auto& [p, n] : live) std::free(reinterpret_cast<void*>(p));
        for (void* p : dead) std::free(p);
        live.clear(), moved.clear(), dead.clear();
        moves = forwards = 0;
    }
    ~Heap() { reset(); }
} g_heap;

void* move(void* old_base, void* user) {
    Heap& h = *static_cast<Heap*>(user);
    const auto old = reinterpret_cast<uintptr_t>(old_base);
    if (auto f = h.moved.find(old); f != h.moved.end()) {
        ++h.forwards;
        return reinterpret_cast<void*>(f->second);
    }
    auto it = h.live.find(old);
    if (it == h.live.end()) return old_base; // not ours: a bug the values will show
    const size_t size = it->second;
    void* fresh = std::malloc(size);
    std::memcpy(fresh, old_base, size);
    std::memset(old_base, 0xdd, size);
    h.live.erase(it);
    h.dead.push_back(old_base);
    h.live[reinterpret_cast<uintptr_t>(fresh)] = size;
    h.moved[old] = reinterpret_cast<uintptr_t>(fresh);
    ++h.moves;
    return fresh;
}

enum class Mode { Relocate, Visit, DropOne, ContextCopy, Parked, ForEach, Frames };

// What rt_collect did (filled inside the stub; read after it returns).
struct Collect {
    Mode mode = Mode::Relocate;
    bool inline_move = false; // Mode::Relocate: relocate_roots with the move a lambda (inlined)
    bool ok = false;
    gcwalk::WalkStats stats;
    gcwalk::WalkError error;
    uint64_t register_roots = 0; // RootLocs of kind kRegister in the walked frames
    uint64_t derived_pairs = 0;  // RootPairs whose derived slot differs from the base
    uint64_t visited_roots = 0, visited_derived = 0;
    uint64_t collections = 0;
    // Mode::ForEach: the base slots for_each_root visited (by WalkerKind), its results, and the
    // base slots visit_roots reported on the same stack.
    std::vector<void**> for_each_slots[2];
    bool for_each_ok[2] = {};
    gcwalk::WalkStats for_each_stats[2];
    std::string for_each_error[2];
    std::vector<void**> visit_slots;
    // Mode::Frames: visit_frames' frames (by WalkerKind) and visit_roots' in the same form, and
    // the results of the relocation done from visit_frames' batches.
    std::vector<std::vector<uintptr_t>> frames_seen[2], roots_seen;
    bool frames_ok[2] = {};
    gcwalk::WalkStats frames_stats[2];
} g_collect;

// A frame as a list: return address, SP, its base slots in order of address, a 0, then its
// (base, derived) slot pairs in order.
struct FrameEvents final : gcwalk::RootVisitor {
    std::vector<std::vector<uintptr_t>> frames;
    std::vector<uintptr_t> bases, pairs;
    void flush() {
        if (frames.empty()) return;
        std::sort(bases.begin(), bases.end());
        std::vector<std::pair<uintptr_t, uintptr_t>> d;
        for (size_t i = 0; i < pairs.size(); i += 2) d.emplace_back(pairs[i], pairs[i + 1]);
        std::sort(d.begin(), d.end());
        auto& f = frames.back();
        f.insert(f.end(), bases.begin(), bases.end());
        f.push_back(0);
        for (auto [b, x] : d) f.insert(f.end(), {b, x});
        bases.clear();
        pairs.clear();
    }
    void frame(uint64_t ra, uint64_t sp) override {
        flush();
        frames.push_back({ra, sp});
    }
    void root(void** slot) override { bases.push_back(reinterpret_cast<uintptr_t>(slot)); }
    void derived(void** base, void** slot) override {
        pairs.insert(pairs.end(),
                     {reinterpret_cast<uintptr_t>(base), reinterpret_cast<uintptr_t>(slot)});
    }
    static void batch(const gcwalk::FrameRoots& f, void* user) {
        auto& e = *static_cast<FrameEvents*>(user);
        e.frame(f.return_address, f.sp);
        for (uint32_t i = 0; i < f.num_slots; ++i) e.root(f.slots[i]);
        for (uint32_t i = 0; i < f.num_derived; ++i)
            e.derived(f.derived[i].base, f.derived[i].derived);
    }
};

// Relocation as a collector does it from visit_frames' batches (the recipe in roots.hpp).
void relocate_batch(const gcwalk::FrameRoots& f, void* user) {
    uintptr_t old_base[gcwalk::kMaxRootPairsPerFrame], old_derived[gcwalk::kMaxRootPairsPerFrame];
    for (uint32_t i = 0; i < f.num_slots; ++i)
        old_base[i] = reinterpret_cast<uintptr_t>(*f.slots[i]);
    for (uint32_t i = 0; i < f.num_derived; ++i)
        old_derived[i] = reinterpret_cast<uintptr_t>(*f.derived[i].derived);
    for (uint32_t i = 0; i < f.num_slots; ++i)
        if (old_base[i]) *f.slots[i] = move(reinterpret_cast<void*>(old_base[i]), user);
    for (uint32_t i = 0; i < f.num_derived; ++i) {
        const uintptr_t base = reinterpret_cast<uintptr_t>(*f.derived[i].base);
        uint32_t j = 0;
        while (f.slots[j] != f.derived[i].base) ++j; // every derived pair's base is in slots
        if (old_base[j])
            *f.derived[i].derived = reinterpret_cast<void*>(base + (old_derived[i] - old_base[j]));
    }
}

struct Counter final : gcwalk::RootVisitor {
    std::vector<void**> roots;
    void root(void** slot) override { roots.push_back(slot); }
    void derived(void**, void**) override { ++g_collect.visited_derived; }
};

// Mode::Parked: the managed thread publishes its context and waits inside the stub until
// another thread has relocated its roots and cleared g_parked.
std::atomic<gcwalk::SafepointContext*> g_parked{nullptr};

void park(gcwalk::SafepointContext* ctx, void*) {
    g_parked.store(ctx, std::memory_order_release);
    while (g_parked.load(std::memory_order_acquire) != nullptr) std::this_thread::yield();
}

void collect(gcwalk::SafepointContext* ctx, void*) {
    if (g_collect.mode == Mode::Parked) return park(ctx, nullptr);
    const gcwalk::FrameIndex& index = registry().index();
    ++g_collect.collections;
    g_heap.moved.clear();
    for (gcwalk::Walker w(*ctx, index); w.valid(); w.next())
        for (const gcwalk::RootPair& p : index.roots(*w.frame().site)) {
            g_collect.register_roots +=
                (p.base.kind() == gcwalk::RootLoc::kRegister) +
                (p.derived.bits != p.base.bits && p.derived.kind() == gcwalk::RootLoc::kRegister);
            g_collect.derived_pairs += p.derived.bits != p.base.bits;
        }
    if (g_collect.mode == Mode::Visit) {
        Counter c;
        c.roots.reserve(64);
        g_collect.ok = gcwalk::visit_roots(*ctx, index, c, {}, &g_collect.stats, &g_collect.error);
        g_collect.visited_roots = c.roots.size();
        return;
    }
    if (g_collect.mode == Mode::Frames) {
        FrameEvents ref;
        g_collect.ok =
            gcwalk::visit_roots(*ctx, index, ref, {}, &g_collect.stats, &g_collect.error);
        ref.flush();
        for (auto& f : ref.frames) // visit_frames hands over only frames with roots
            if (f.size() > 3) g_collect.roots_seen.push_back(f);
        for (gcwalk::WalkerKind kind : {gcwalk::WalkerKind::Libunwind, gcwalk::WalkerKind::Fast}) {
            const int k = static_cast<int>(kind);
            gcwalk::WalkOptions opts;
            opts.walker = kind;
            FrameEvents got;
            g_collect.frames_ok[k] = gcwalk::visit_frames(
                *ctx, index, FrameEvents::batch, &got, opts, &g_collect.frames_stats[k], nullptr);
            got.flush();
            g_collect.frames_seen[k] = got.frames;
        }
        gcwalk::WalkOptions opts;
        opts.walker = gcwalk::WalkerKind::Fast;
        g_collect.ok &= gcwalk::visit_frames(*ctx, index, relocate_batch, &g_heap, opts, nullptr,
                                             &g_collect.error);
        return;
    }
    if (g_collect.mode == Mode::ForEach) {
        for (gcwalk::WalkerKind kind : {gcwalk::WalkerKind::Libunwind, gcwalk::WalkerKind::Fast}) {
            const int k = static_cast<int>(kind);
            gcwalk::WalkOptions opts;
            opts.walker = kind;
            gcwalk::WalkError error;
            auto& slots = g_collect.for_each_slots[k];
            slots.reserve(64);
            g_collect.for_each_ok[k] = gcwalk::for_each_root(
                *ctx, index, [&](void** slot) { slots.push_back(slot); }, opts,
                &g_collect.for_each_stats[k], &error);
            g_collect.for_each_error[k] = error.message;
        }
        Counter c;
        c.roots.reserve(64);
        g_collect.ok = gcwalk::visit_roots(*ctx, index, c, {}, &g_collect.stats, &g_collect.error);
        g_collect.visit_slots = c.roots;
        return;
    }
    if (g_collect.mode == Mode::DropOne) {
        // A collector that loses one root: it moves every object but forgets to update the
        // first slot. The managed code must then read the poisoned old copy.
        Counter c;
        c.roots.reserve(64);
        g_collect.ok = gcwalk::visit_roots(*ctx, index, c, {}, &g_collect.stats, &g_collect.error);
        g_collect.visited_roots = c.roots.size();
        for (size_t i = 0; i < c.roots.size(); ++i) {
            void* fresh = move(*c.roots[i], &g_heap);
            if (i != 0) *c.roots[i] = fresh;
        }
        return;
    }
    if (g_collect.inline_move)
        g_collect.ok = gcwalk::relocate_roots(
            *ctx, index, [](void* old) { return move(old, &g_heap); }, {}, &g_collect.stats,
            &g_collect.error);
    else
        g_collect.ok = gcwalk::relocate_roots(*ctx, index, move, &g_heap, {}, &g_collect.stats,
                                              &g_collect.error);
}

void reset(Mode mode = Mode::Relocate, bool inline_move = false) {
    g_heap.reset();
    g_heap.live.reserve(256);
    g_heap.moved.reserve(256);
    g_collect = Collect{};
    g_collect.mode = mode;
    g_collect.inline_move = inline_move;
}

// The relocation tests run twice: relocate_roots with a MoveFn, and with the move inlined.
constexpr bool kMoves[] = {false, true};

int64_t native_depth = 0;

} // namespace

extern "C" {
void rt_relocate_raw(gcwalk::SafepointContext* ctx);
void* rt_alloc(int64_t size) {
    void* p = std::calloc(1, static_cast<size_t>(size));
    g_heap.live[reinterpret_cast<uintptr_t>(p)] = static_cast<size_t>(size);
    return p;
}

__attribute__((noinline)) void* rt_null() {
    asm volatile("" ::: "memory");
    return nullptr;
}

__attribute__((noinline)) void rt_collect() {
    gcwalk_safepoint_enter(collect, nullptr);
    asm volatile("" ::: "memory"); // a real call, never a tail call
}

// Called by rt_collect_raw (below) with the context it captured.
void rt_relocate_raw(gcwalk::SafepointContext* ctx) {
    ++g_collect.collections;
    if (g_collect.mode == Mode::ForEach) { // with the fast walker: its slow paths see this context
        gcwalk::WalkOptions opts;
        opts.walker = gcwalk::WalkerKind::Fast;
        gcwalk::WalkError error;
        auto& slots = g_collect.for_each_slots[1];
        slots.reserve(64);
        g_collect.ok = gcwalk::for_each_root(
            *ctx, registry().index(), [&](void** slot) { slots.push_back(slot); }, opts,
            &g_collect.stats, &error);
        g_collect.error = error;
        return;
    }
    g_collect.ok = gcwalk::relocate_roots(*ctx, registry().index(), move, &g_heap, {},
                                          &g_collect.stats, &g_collect.error);
}
}

// A collector entry that captures the context with plain unw_getcontext, without the stub's
// pushes, and saves no register itself: the managed caller's callee-saved registers are then
// only in the context copy. Assembly so that no compiler (or sanitizer) adds saves.
asm(R"(
    .text
    .globl  rt_collect_raw
    .type   rt_collect_raw, @function
rt_collect_raw:
    .cfi_startproc
    subq    $1048, %rsp              # a SafepointContext, RSP 16-aligned
    .cfi_adjust_cfa_offset 1048
    movq    $0, 1024(%rsp)           # caller_return_address: none (no stub frame to start at)
    movq    $0, 1032(%rsp)           # caller_sp: none
    movq    %rsp, %rdi
    call    _Ux86_64_getcontext@PLT
    movq    %rsp, %rdi
    call    rt_relocate_raw@PLT
    addq    $1048, %rsp
    .cfi_adjust_cfa_offset -1048
    ret
    .cfi_endproc
    .size   rt_collect_raw, .-rt_collect_raw
)");

extern "C" {
// N objects holding 0 .. N-1, in a native array the managed code reads them from.
void** rt_objects(int64_t n) {
    static void* objects[1024];
    for (int64_t k = 0; k < n && k < 1024; ++k) {
        objects[k] = rt_alloc(16);
        *static_cast<int64_t*>(objects[k]) = k;
    }
    return objects;
}

__attribute__((noinline)) int64_t rt_native(int64_t b) {
    ++native_depth;
    int64_t r = gr_sum(b, b);
    asm volatile("" ::: "memory");
    return r;
}
}

TEST_CASE("the index knows whether a root needs a register other than RSP and RBP", "[roots]") {
    // FrameIndex::register_roots() chooses whether root walks track every callee-saved register:
    // it must be set exactly when some root is a Register location or memory at another register.
    const gcwalk::FrameIndex& index = registry().index();
    bool needs = false;
    for (const gcwalk::CallSite& cs : index.call_sites())
        for (const gcwalk::RootPair& p : index.roots(cs))
            for (gcwalk::RootLoc l : {p.base, p.derived})
                needs |= l.kind() == gcwalk::RootLoc::kRegister ||
                         (l.kind() == gcwalk::RootLoc::kMemory &&
                          l.dwarf_reg() != gcwalk::kDwarfRsp && l.dwarf_reg() != gcwalk::kDwarfRbp);
    CHECK(index.register_roots() == needs);
    CHECK(index.register_roots() == (GCWALK_ROOTS_VARIANT == 2)); // only llc's csr build has them
}

TEST_CASE("two stack roots are relocated and read back after the move", "[roots]") {
    for (bool inline_move : kMoves) {
        INFO("move " << (inline_move ? "inlined" : "MoveFn"));
        reset(Mode::Relocate, inline_move);
        CHECK(gr_sum(1000, 234) == 1234);
        CHECK(g_collect.ok);
        CHECK(g_collect.error.message[0] == '\0');
        CHECK(g_collect.stats.frames == 1);
        CHECK(g_collect.stats.roots == 2);
        CHECK(g_heap.moves == 2);
        CHECK(g_heap.forwards == 0);
    }
}

TEST_CASE("a null root is left null and not counted; the object beside it moves", "[roots]") {
    for (bool inline_move : kMoves) {
        INFO("move " << (inline_move ? "inlined" : "MoveFn"));
        reset(Mode::Relocate, inline_move);
        CHECK(gr_null(41) == 42);
        CHECK(g_collect.ok);
        CHECK(g_collect.stats.frames == 1);
        CHECK(g_collect.stats.roots == 1); // stats count the roots moved: the null one is not
        CHECK(g_heap.moves == 1);
    }
    // for_each_root visits the null slot too (and counts it).
    reset(Mode::ForEach);
    CHECK(gr_null(41) == 42);
    CHECK(g_collect.ok);
    for (int k = 0; k < 2; ++k) CHECK(g_collect.for_each_stats[k].roots == 2);
}

TEST_CASE("a derived pointer keeps its offset from the moved base", "[roots]") {
    for (bool inline_move : kMoves) {
        INFO("move " << (inline_move ? "inlined" : "MoveFn"));
        reset(Mode::Relocate, inline_move);
        CHECK(gr_derived(5) == 12);
        CHECK(g_collect.ok);
        CHECK(g_heap.moves == 1);
#if GCWALK_ROOTS_VARIANT == 1
        // opt -spp-rematerialization-threshold=0 + llc -disable-cgp-gc-opts: a real derived pair.
        CHECK(g_collect.derived_pairs >= 1);
        CHECK(g_collect.stats.roots == 2); // the base slot and the derived slot
#else
        CHECK(g_collect.derived_pairs == 0); // the GEP is recomputed after the call
#endif
    }
}

TEST_CASE("visiting reports each slot once and moves nothing", "[roots]") {
    reset(Mode::Visit);
    CHECK(gr_derived(5) == 12);
    CHECK(g_collect.ok);
    CHECK(g_heap.moves == 0);
    CHECK(g_collect.visited_roots == 1); // one base slot
#if GCWALK_ROOTS_VARIANT == 1
    CHECK(g_collect.visited_derived == 1);
    CHECK(g_collect.stats.roots == 2);
#else
    CHECK(g_collect.visited_derived == 0);
    CHECK(g_collect.stats.roots == 1);
#endif
    reset(Mode::Visit);
    CHECK(gr_recurse(9) == 45);
    CHECK(g_collect.stats.frames == 10);
    CHECK(g_collect.visited_roots == 10);
}

// The distinct slots of a list, in order of address.
std::vector<void**> distinct(std::vector<void**> v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}

TEST_CASE("for_each_root visits the base slots visit_roots reports, with both walkers", "[roots]") {
    for (int shape = 0; shape < 3; ++shape) {
        INFO("shape " << shape);
        reset(Mode::ForEach);
        if (shape == 0) CHECK(gr_recurse(20) == 210);
        if (shape == 1) CHECK(gr_derived(5) == 12);
        if (shape == 2) CHECK(gr_many(10, rt_collect) == 75); // register roots in variant 2
        REQUIRE(g_collect.ok);
        REQUIRE_FALSE(g_collect.visit_slots.empty());
        for (int k = 0; k < 2; ++k) {
            INFO("walker " << k);
            CHECK(g_collect.for_each_ok[k]);
            CHECK(g_collect.for_each_error[k].empty());
            CHECK(g_collect.for_each_stats[k].frames == g_collect.stats.frames);
            CHECK(g_collect.for_each_stats[k].roots == g_collect.for_each_slots[k].size());
            // Every slot holds an object here, so the distinct base slots are exactly the
            // non-null ones visit_roots reports.
            CHECK(distinct(g_collect.for_each_slots[k]) == distinct(g_collect.visit_slots));
        }
        CHECK(g_collect.for_each_slots[0] == g_collect.for_each_slots[1]); // same order too
    }
}

TEST_CASE("visit_frames hands over each frame's slots as visit_roots visits them, and relocates",
          "[roots]") {
    for (int shape = 0; shape < 4; ++shape) {
        INFO("shape " << shape);
        reset(Mode::Frames);
        // The values read back after the collection check the relocation done from the batches.
        if (shape == 0) CHECK(gr_recurse(20) == 210);
        if (shape == 1) CHECK(gr_derived(5) == 12);
        if (shape == 2) CHECK(gr_many(10, rt_collect) == 75); // register roots in variant 2
        if (shape == 3) CHECK(gr_outer(100, 7) == 114);       // a native frame between
        REQUIRE(g_collect.ok);
        CHECK(g_heap.moves > 0);
        REQUIRE_FALSE(g_collect.roots_seen.empty());
        for (int k = 0; k < 2; ++k) {
            INFO("walker " << k);
            CHECK(g_collect.frames_ok[k]);
            CHECK(g_collect.frames_stats[k].frames == g_collect.stats.frames);
            // Every slot holds an object here: the slots handed over are the ones visited.
            CHECK(g_collect.frames_stats[k].roots == g_collect.stats.roots);
            CHECK(g_collect.frames_seen[k] == g_collect.roots_seen);
        }
    }
}

TEST_CASE("frames on both sides of a native frame are relocated", "[roots]") {
    for (bool inline_move : kMoves) {
        INFO("move " << (inline_move ? "inlined" : "MoveFn"));
        reset(Mode::Relocate, inline_move);
        native_depth = 0;
        CHECK(gr_outer(100, 7) == 114);
        CHECK(native_depth == 1);
        CHECK(g_collect.ok);
        CHECK(g_collect.stats.frames == 2); // gr_sum, gr_outer
        CHECK(g_heap.moves == 3);
    }
}

TEST_CASE("six live objects, some in callee-saved registers with register roots", "[roots]") {
    for (bool inline_move : kMoves) {
        INFO("move " << (inline_move ? "inlined" : "MoveFn"));
        reset(Mode::Relocate, inline_move);
        CHECK(gr_many(10, rt_collect) == 75);
        CHECK(g_collect.ok);
        CHECK(g_heap.moves == 6);
#if GCWALK_ROOTS_VARIANT == 2
        // llc -max-registers-for-gc-values=4 -fixup-allow-gcptr-in-csr: relocated through the
        // stub's save slots.
        CHECK(g_collect.register_roots >= 1);
#else
        CHECK(g_collect.register_roots == 0);
#endif
    }
}

TEST_CASE("recursion: every frame's object is moved once", "[roots]") {
    for (bool inline_move : kMoves)
        for (int64_t n : {0, 3, 50}) {
            reset(Mode::Relocate, inline_move);
            INFO("depth " << n << ", move " << (inline_move ? "inlined" : "MoveFn"));
            CHECK(gr_recurse(n) == n * (n + 1) / 2);
            CHECK(g_collect.ok);
            CHECK(g_collect.stats.frames == static_cast<uint64_t>(n + 1));
            CHECK(g_heap.moves == static_cast<uint64_t>(n + 1));
        }
}

TEST_CASE("a collector that drops one root makes the managed code read poisoned memory",
          "[roots]") {
    reset(Mode::DropOne);
    const int64_t r = gr_sum(1000, 234);
    CHECK(g_collect.ok);
    REQUIRE(g_collect.visited_roots == 2);
    // One of the two loads now reads the poisoned old copy.
    CHECK(r != 1234);
    CHECK(
        (static_cast<uint64_t>(r) - 1000 == kPoison || static_cast<uint64_t>(r) - 234 == kPoison));
}

TEST_CASE("another thread relocates the roots of a thread parked in the stub", "[roots]") {
    reset(Mode::Parked);
    (void)registry();
    int64_t sum = 0, many = 0;
    std::thread mutator([&] {
        sum = gr_recurse(20);
        many = gr_many(1, rt_collect);
    });
    const uint64_t expected_frames[] = {21, 1};
    for (uint64_t frames : expected_frames) {
        gcwalk::SafepointContext* ctx;
        while (!(ctx = g_parked.load(std::memory_order_acquire))) std::this_thread::yield();
        g_heap.moved.clear();
        g_collect.ok = gcwalk::relocate_roots(*ctx, registry().index(), move, &g_heap, {},
                                              &g_collect.stats, &g_collect.error);
        CHECK(g_collect.ok);
        CHECK(g_collect.stats.frames == frames);
        g_parked.store(nullptr, std::memory_order_release); // let the mutator leave the stub
    }
    mutator.join();
    CHECK(sum == 210);
    CHECK(many == 21);
    CHECK(g_heap.moves == 27);
}

TEST_CASE("a context captured without the stub", "[roots]") {
    reset(Mode::ContextCopy);
    const int64_t r = gr_many(10, rt_collect_raw);
    REQUIRE(g_collect.collections == 1);
    CHECK(r == 75);
#if GCWALK_ROOTS_VARIANT == 2
    // Register roots: their only save location is the context copy. Precise mode refuses the
    // frame before anything is written.
    CHECK_FALSE(g_collect.ok);
    const std::string message = g_collect.error.message;
    CHECK(message.find("is saved only in the captured context copy (was the context captured by "
                       "gcwalk_safepoint_enter?)") != std::string::npos);
    CHECK(message.rfind("register root r", 0) == 0);
    CHECK(g_heap.moves == 0);
#else
    // Stack roots only: relative to the frame's SP, found and moved as usual.
    CHECK(g_collect.ok);
    CHECK(g_heap.moves == 6);
#endif
}

TEST_CASE("for_each_root on a context captured without the stub", "[roots]") {
    reset(Mode::ForEach);
    CHECK(gr_many(10, rt_collect_raw) == 75);
    REQUIRE(g_collect.collections == 1);
#if GCWALK_ROOTS_VARIANT == 2
    // A register root whose only save location is the context copy: the precise walk ends there.
    CHECK_FALSE(g_collect.ok);
    CHECK(std::string(g_collect.error.message).rfind("register root r", 0) == 0);
#else
    CHECK(g_collect.ok);
    CHECK(g_collect.stats.roots == 6);
    CHECK(distinct(g_collect.for_each_slots[1]).size() == 6);
#endif
}

#ifdef GCWALK_ROOTS_LIMIT
TEST_CASE("the per-frame limit of root pairs", "[roots]") {
    SECTION("512 roots in one frame are all relocated") {
        reset();
        CHECK(gr_live_512() == 511 * 512 / 2);
        CHECK(g_collect.ok);
        CHECK(g_collect.stats.roots == 512);
        CHECK(g_heap.moves == 512);
    }
    SECTION("513 roots: precise mode refuses the frame before moving anything") {
        reset();
        CHECK(gr_live_513() == 512 * 513 / 2); // nothing moved, nothing poisoned
        CHECK_FALSE(g_collect.ok);
        CHECK(g_heap.moves == 0);
        char expected[256];
        std::snprintf(expected, sizeof expected,
                      "frame at return address 0x%" PRIx64
                      " has 513 root pairs, more than the limit of 512",
                      g_collect.error.address);
        CHECK(std::string(g_collect.error.message) == expected);
        CHECK(registry().index().find(g_collect.error.address) != nullptr);
    }
}
#endif
