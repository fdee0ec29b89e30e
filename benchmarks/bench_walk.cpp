// Walk benchmarks on real LLVM-compiled frames (rings of 64 distinct managed functions, generated
// and compiled by opt-14/llc-14 at build time, with and without frame pointers) at depths 10 to
// 10,000 with 0, 2 and 8 live GC pointers per frame, each pointing at a real object of a
// Boehm-style heap: the fast walker (visiting, or visiting and marking, every root), the libunwind
// walker, a bare unw_step loop, a frame-pointer walk, and conservative scans of the same stack
// words, timed on the same frozen stack in the same run; the ratios are reported as x_* counters.
// BM_WalkNative walks on through the native frames below the rings, to the end of the stack.
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <gcwalk/gcwalk.h>
#include <gcwalk/image_registry.hpp>
#include <gcwalk/roots.hpp>
#include <gcwalk/walker.hpp>

#include "rings.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace rings; // NOLINT: the rings' shape and registry (rings.hpp)

// A non-moving heap as a conservative collector keeps it (Boehm's layout, simplified): 4 KiB
// blocks of one size class each, a class byte per block (the block header), per class a map from
// granule within the block to granules back to the object start (0xff: past the last whole object;
// Boehm's hb_map), and one mark bit per 16-byte granule. A precise root holds an object start and
// marks its granule directly; a conservative word must first be found to be inside a block in
// use, then mapped to its object's start (interior pointers are common on real stacks).
struct Heap {
    static constexpr uint64_t kSize = 16u << 20, kBlock = 4096, kGranule = 16;
    static constexpr uint32_t kClassSize[] = {0,  16, 32,  48,
                                              64, 96, 128, 256}; // class 0: free block
    static constexpr int kClasses = 8;
    static constexpr uint64_t kGranulesPerBlock = kBlock / kGranule;

    // What a marker keeps in registers while it marks (both kinds of marking use it).
    struct Marker {
        uint64_t lo;
        const uint8_t* block_class;
        const uint8_t (*map)[kGranulesPerBlock];
        uint64_t* marks;

        bool mark_granule(uint64_t g) const noexcept {
            const uint64_t bit = uint64_t{1} << (g % 64), w = marks[g / 64];
            if (w & bit) [[likely]]
                return false; // every benchmark iteration after the first finds its objects marked
            marks[g / 64] = w | bit;
            return true;
        }
        // A precise root: the object's start is known. True when newly marked (a collector would
        // push).
        bool mark_object(const void* obj) const noexcept {
            return mark_granule((reinterpret_cast<uint64_t>(obj) - lo) / kGranule);
        }
        // A conservative word: range check, block header, start map, mark.
        bool mark_word(uint64_t word) const noexcept {
            const uint64_t off = word - lo;
            if (off >= kSize) return false;
            const uint8_t cls = block_class[off / kBlock];
            if (cls == 0) return false;
            const uint64_t g = off / kGranule;
            const uint8_t back = map[cls][g % kGranulesPerBlock];
            if (back == 0xff) return false;
            return mark_granule(g - back);
        }
        // A conservative word's object start (range check, block header, start map), or 0.
        uint64_t find_start(uint64_t word) const noexcept {
            const uint64_t off = word - lo;
            if (off >= kSize) return 0;
            const uint8_t cls = block_class[off / kBlock];
            if (cls == 0) return 0;
            const uint64_t g = off / kGranule;
            const uint8_t back = map[cls][g % kGranulesPerBlock];
            if (back == 0xff) return 0;
            return lo + (g - back) * kGranule;
        }
        bool in_range(uint64_t word) const noexcept { return word - lo < kSize; }
    };

    Heap()
        : base(static_cast<unsigned char*>(std::aligned_alloc(kBlock, kSize))),
          block_class(kSize / kBlock, 0), marks(kSize / kGranule / 64, 0) {
        std::memset(base, 0, kSize);
        for (int c = 1; c < kClasses; ++c) {
            const uint64_t per = kClassSize[c] / kGranule, last = kBlock / kClassSize[c] * per;
            for (uint64_t g = 0; g < kGranulesPerBlock; ++g)
                map[c][g] = g < last ? static_cast<uint8_t>(g % per) : 0xff;
        }
    }
    Marker marker() noexcept {
        return {reinterpret_cast<uint64_t>(base), block_class.data(), map, marks.data()};
    }
    void* allocate(int cls) {
        if (free_in[cls] < kClassSize[cls]) {
            if (next_block == block_class.size()) std::abort();
            block_class[next_block] = static_cast<uint8_t>(cls);
            bump[cls] = reinterpret_cast<uint64_t>(base) + next_block++ * kBlock;
            free_in[cls] = kBlock / kClassSize[cls] * kClassSize[cls];
        }
        const uint64_t p = bump[cls];
        bump[cls] += kClassSize[cls];
        free_in[cls] -= kClassSize[cls];
        return reinterpret_cast<void*>(p);
    }
    void clear_marks() { std::fill(marks.begin(), marks.end(), 0); }
    uint64_t marked() const {
        uint64_t n = 0;
        for (uint64_t w : marks) n += static_cast<uint64_t>(__builtin_popcountll(w));
        return n;
    }

    unsigned char* base;
    std::vector<uint8_t> block_class;
    std::vector<uint64_t> marks;
    uint8_t map[kClasses][kGranulesPerBlock] = {};
    uint64_t bump[kClasses] = {}, free_in[kClasses] = {};
    size_t next_block = 0;
};

Heap& heap() {
    static Heap* h = new Heap;
    return *h;
}

// The objects the ring's frames keep live: frame n's j-th GC pointer, of a random size class.
std::vector<void*>& ring_objects() {
    static std::vector<void*>* objs = [] {
        auto* v = new std::vector<void*>((kMaxDepth + 1) * kMaxRoots);
        uint64_t x = 0x9E3779B97F4A7C15ull;
        for (void*& p : *v) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            p = heap().allocate(1 + static_cast<int>(x % (Heap::kClasses - 1)));
        }
        return v;
    }();
    return *objs;
}

} // namespace

extern "C" void* bw_obj(int64_t n, int64_t j) {
    return ring_objects()[static_cast<size_t>(n * kMaxRoots + j)];
}

namespace {

enum Kind {
    kFast,             // fast walker, every root slot read (visited)
    kFastMark,         // fast walker, every root's object marked
    kLibunwindWalker,  // libunwind walker, every root slot read
    kUnwStep,          // bare unw_step loop
    kFramePointer,     // frame-pointer chain (rings with frame pointers)
    kConservative,     // every word: range check, object start, mark
    kConservativeFind, // every word: range check, object start (no mark: against kFast)
    kRangeScan,        // every word: range check only (a lower bound)
    kFastCached, // fast walker with a WalkCache holding this stack: frames re-checked, roots read
    kFastCachedMark,  // the same, every root's object marked
    kFastRecord,      // fast walker recording into a WalkCache cleared before each walk
    kDayOne,          // the minimal precise walker (DayOneTable below), every root slot read
    kRelocate,        // relocate_roots (fast walker) with a move that keeps every object in place
    kCBatch,          // C API gcwalk_visit_frames (fast walker), every root slot read
    kCVisit,          // C API gcwalk_visit_roots (fast walker), a callback per root
    kRelocateForward, // relocate_roots with the reference runtime's move for a forwarded object
    kRelocateInline,  // relocate_roots with the move inlined (a lambda), keeping every object
    kNumKinds
};
const char* const kKindName[kNumKinds] = {
    "fast",           "fast_mark",        "libunwind_walker",  "unw_step",
    "frame_pointer",  "conservative",     "conservative_find", "range_scan",
    "fast_cached",    "fast_cached_mark", "fast_record",       "day_one",
    "relocate",       "c_batch",          "c_visit",           "relocate_forward",
    "relocate_inline"};

// The minimal precise walker a runtime author writes in a day: a hash table keyed by return
// address holding each call site's frame size (the stack map's stack size) and root offsets from
// RSP; the caller's SP is SP + frame size + 8 and its return address the word below that. No CFI,
// no register tracking; it stops at the first return address it does not know. Wrong on dynamic
// and realigned frames, pushed arguments, register roots and native frames between managed ones
// (its call sites with those are left out, so a walk through one stops short and the benchmark's
// frame and root counts refuse the figure).
class DayOneTable {
  public:
    struct Entry {
        uint64_t ra; // 0: empty
        uint32_t frame_size;
        uint32_t first; // into offsets
        uint32_t count;
    };
    explicit DayOneTable(const gcwalk::FrameIndex& index) {
        const std::vector<gcwalk::CallSite> sites = index.call_sites();
        nslots_ = 1;
        while (nslots_ < sites.size() * 2) nslots_ <<= 1;
        table_.assign(nslots_, Entry{0, 0, 0, 0});
        for (const gcwalk::CallSite& cs : sites) {
            const gcwalk::FrameRecord* fr = index.frame(cs);
            if (!fr || (fr->flags & gcwalk::kFrameDynamic)) continue;
            Entry e{cs.return_address(), static_cast<uint32_t>(fr->stack_size),
                    static_cast<uint32_t>(offsets_.size()), 0};
            bool plain = true;
            for (const gcwalk::RootPair& p : index.roots(cs)) {
                plain &= p.base.is_sp_slot() && p.base.bits == p.derived.bits;
                offsets_.push_back(p.base.offset());
                ++e.count;
            }
            if (!plain) {
                offsets_.resize(e.first);
                continue;
            }
            uint64_t i = slot(e.ra);
            while (table_[i].ra != 0) i = (i + 1) & (nslots_ - 1);
            table_[i] = e;
        }
    }
    const Entry* find(uint64_t ra) const noexcept {
        for (uint64_t i = slot(ra);; i = (i + 1) & (nslots_ - 1)) {
            const Entry& e = table_[i];
            if (e.ra == ra) return &e;
            if (e.ra == 0) return nullptr;
        }
    }
    // Visits every root slot from the stub's caller outward; returns the frames walked.
    template <class Visit> uint64_t walk(uint64_t sp, uint64_t ra, Visit&& visit) const noexcept {
        uint64_t frames = 0;
        while (const Entry* e = find(ra)) {
            ++frames;
            const int32_t* off = offsets_.data() + e->first;
            for (uint32_t i = 0; i < e->count; ++i)
                visit(reinterpret_cast<void**>(sp + static_cast<int64_t>(off[i])));
            sp += e->frame_size + 8;
            std::memcpy(&ra, reinterpret_cast<const void*>(sp - 8), sizeof ra);
        }
        return frames;
    }

  private:
    uint64_t slot(uint64_t ra) const noexcept {
        return ((ra * 0x9E3779B97F4A7C15ull) >> 32) & (nslots_ - 1);
    }
    uint64_t nslots_ = 0;
    std::vector<Entry> table_;
    std::vector<int32_t> offsets_;
};

// The benchmark thread's WalkCache (kFastCached, kFastRecord): deep enough for every ring.
gcwalk::WalkCache& walk_cache() {
    static gcwalk::WalkCache* c = new gcwalk::WalkCache(1u << 15);
    return *c;
}

// The stack being measured: [lo, hi) holds every word of the managed frames (from the stub's
// caller's SP to the outermost managed frame's CFA); stop_sp is the outermost frame's SP.
struct Stack {
    uint64_t lo = 0, hi = 0, stop_sp = 0, frames = 0;
    uint64_t words() const { return (hi - lo) / 8; }
};

uint64_t g_cached_frames = 0; // WalkStats::cached of the last walk_roots

// A precise walk: every root slot visited (read), and with `mark` its object marked.
template <bool mark>
uint64_t walk_roots(const gcwalk::SafepointContext& ctx, gcwalk::WalkerKind kind, uint64_t stop_sp,
                    uint64_t* roots, gcwalk::WalkCache* cache = nullptr) {
    gcwalk::WalkOptions opts;
    opts.walker = kind;
    opts.stop_sp = stop_sp;
    opts.cache = cache;
    gcwalk::WalkStats stats;
    uint64_t sum = 0;
    const Heap::Marker h = heap().marker();
    gcwalk::for_each_root(
        ctx, registry().index(),
        [&](void** slot) {
            void* obj = *slot;
            if constexpr (mark) {
                if (obj) sum += h.mark_object(obj);
            } else {
                sum += reinterpret_cast<uintptr_t>(obj);
            }
        },
        opts, &stats, nullptr);
    uint64_t result = sum; // sum's address must not escape, or the visitor keeps it in memory
    benchmark::DoNotOptimize(result);
    *roots = stats.roots;
    g_cached_frames = stats.cached;
    return stats.frames;
}

const DayOneTable& day_one() {
    static const DayOneTable* t = new DayOneTable(registry().index());
    return *t;
}

// (noinline: a profiler counts each path on its own)
__attribute__((noinline)) uint64_t day_one_walk(const gcwalk::SafepointContext& ctx,
                                                uint64_t* roots) {
    uint64_t sum = 0, n = 0;
    const uint64_t frames =
        day_one().walk(ctx.caller_sp, ctx.caller_return_address, [&](void** slot) {
            sum += reinterpret_cast<uintptr_t>(*slot);
            ++n;
        });
    benchmark::DoNotOptimize(sum);
    *roots = n;
    return frames;
}

// The same stack maps through the C API (its own registry, as a C runtime has).
gcwalk_registry* c_registry() {
    static gcwalk_registry* r = [] {
        gcwalk_registry* reg = gcwalk_registry_create();
        if (!reg || gcwalk_registry_rescan(reg) != 0) std::abort();
        return reg;
    }();
    return r;
}

void* keep_in_place(void* old_base, void*) {
    return old_base;
}

// What the reference runtime's move does with an object it has forwarded already, as every root
// after an object's first is (gc/runtime: move_object -> SemispaceHeap::forward -> reserve, each
// out of line): a bounds and alignment check, the header read and its forwarded bit tested, the
// forwarding address returned. The benchmark heap has no headers: the object's first word stands
// in for one, its top bit (never set here) for the forwarded bit, and the object stays in place.
struct ForwardCheck {
    uint64_t lo, hi;
};
__attribute__((noinline)) void* forwarded_address(const ForwardCheck& c, uintptr_t old) {
    if (old < c.lo || old >= c.hi || (old & 7) != 0) std::abort();
    const uint64_t header = *reinterpret_cast<const uint64_t*>(old);
    constexpr uint64_t kForwarded = uint64_t{1} << 63;
    return reinterpret_cast<void*>((header & kForwarded) ? header & ~kForwarded : old);
}
__attribute__((noinline)) void* forward_like_runtime(void* old_base, void* user) {
    return forwarded_address(*static_cast<const ForwardCheck*>(user),
                             reinterpret_cast<uintptr_t>(old_base));
}

uint64_t relocate_with(const gcwalk::SafepointContext& ctx, uint64_t stop_sp, uint64_t* roots,
                       gcwalk::MoveFn move) {
    gcwalk::WalkOptions opts;
    opts.walker = gcwalk::WalkerKind::Fast;
    opts.stop_sp = stop_sp;
    gcwalk::WalkStats stats;
    ForwardCheck check{reinterpret_cast<uint64_t>(heap().base),
                       reinterpret_cast<uint64_t>(heap().base) + Heap::kSize};
    gcwalk::relocate_roots(ctx, registry().index(), move, &check, opts, &stats, nullptr);
    *roots = stats.roots;
    return stats.frames;
}
// (noinline: a profiler counts each path on its own)
__attribute__((noinline)) uint64_t relocate_walk(const gcwalk::SafepointContext& ctx,
                                                 uint64_t stop_sp, uint64_t* roots) {
    return relocate_with(ctx, stop_sp, roots, keep_in_place);
}
__attribute__((noinline)) uint64_t relocate_forward_walk(const gcwalk::SafepointContext& ctx,
                                                         uint64_t stop_sp, uint64_t* roots) {
    return relocate_with(ctx, stop_sp, roots, forward_like_runtime);
}

// relocate_roots with the move a lambda, inlined: the object kept where it is, its address passed
// through an empty asm so that the compiler must store it back (it cannot see it is unchanged).
__attribute__((noinline)) uint64_t relocate_inline_walk(const gcwalk::SafepointContext& ctx,
                                                        uint64_t stop_sp, uint64_t* roots) {
    gcwalk::WalkOptions opts;
    opts.walker = gcwalk::WalkerKind::Fast;
    opts.stop_sp = stop_sp;
    gcwalk::WalkStats stats;
    gcwalk::relocate_roots(
        ctx, registry().index(),
        [](void* old) {
            asm("" : "+r"(old));
            return old;
        },
        opts, &stats, nullptr);
    *roots = stats.roots;
    return stats.frames;
}

void c_batch_frame(const gcwalk_frame_roots* f, void* user) {
    uint64_t sum = 0;
    for (uint32_t i = 0; i < f->num_slots; ++i) sum += reinterpret_cast<uintptr_t>(*f->slots[i]);
    *static_cast<uint64_t*>(user) += sum;
}
void c_visit_root(void** slot, void* user) {
    *static_cast<uint64_t*>(user) += reinterpret_cast<uintptr_t>(*slot);
}

// (noinline: a profiler counts each path on its own)
__attribute__((noinline)) uint64_t c_walk(Kind kind, const gcwalk::SafepointContext& ctx,
                                          uint64_t stop_sp, uint64_t* roots) {
    const auto* c = reinterpret_cast<const gcwalk_context*>(&ctx);
    const gcwalk_walk_options opts = {GCWALK_WALKER_FAST, 1, stop_sp, nullptr};
    gcwalk_walk_stats stats{};
    uint64_t sum = 0;
    if (kind == kCBatch) {
        gcwalk_visit_frames(c, c_registry(), c_batch_frame, &sum, &opts, &stats, nullptr);
    } else {
        const gcwalk_visitor v = {nullptr, c_visit_root, nullptr, &sum};
        gcwalk_visit_roots(c, c_registry(), &v, &opts, &stats, nullptr);
    }
    benchmark::DoNotOptimize(sum);
    *roots = stats.roots;
    return stats.frames;
}

uint64_t unw_step_loop(const gcwalk::SafepointContext& ctx, uint64_t stop_sp) {
    unw_cursor_t c;
    unw_init_local(
        &c, reinterpret_cast<unw_context_t*>(const_cast<unsigned char*>(ctx.unwind_context)));
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
// (noinline: a profiler counts each path on its own)
__attribute__((noinline)) uint64_t frame_pointer_walk(const gcwalk::SafepointContext& ctx,
                                                      uint64_t managed_frames) {
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

// A conservative collector's stack scan: every word of the frames, and for each that points into
// the heap, its object found and marked (Find: found only; Range: the range check alone).
enum class Scan { Mark, Find, Range };
template <Scan scan> uint64_t conservative_scan(const Stack& s) {
    const Heap::Marker h = heap().marker();
    uint64_t hits = 0;
    for (auto* p = reinterpret_cast<const uint64_t*>(s.lo);
         p < reinterpret_cast<const uint64_t*>(s.hi); ++p) {
        if constexpr (scan == Scan::Range)
            hits += h.in_range(*p);
        else if constexpr (scan == Scan::Find)
            hits += h.find_start(*p);
        else
            hits += h.mark_word(*p);
    }
    uint64_t result = hits;
    benchmark::DoNotOptimize(result);
    return hits;
}

// One walk of `kind`: returns frames walked (0 for scans) and sets roots (visits, or heap words).
uint64_t walk_once(Kind kind, const gcwalk::SafepointContext& ctx, const Stack& s,
                   uint64_t* roots) {
    *roots = 0;
    switch (kind) {
    case kFast: return walk_roots<false>(ctx, gcwalk::WalkerKind::Fast, s.stop_sp, roots);
    case kFastMark: return walk_roots<true>(ctx, gcwalk::WalkerKind::Fast, s.stop_sp, roots);
    case kLibunwindWalker:
        return walk_roots<false>(ctx, gcwalk::WalkerKind::Libunwind, s.stop_sp, roots);
    case kUnwStep: return unw_step_loop(ctx, s.stop_sp);
    case kFramePointer: return frame_pointer_walk(ctx, s.frames);
    case kConservative: conservative_scan<Scan::Mark>(s); return 0;
    case kConservativeFind: conservative_scan<Scan::Find>(s); return 0;
    case kRangeScan: *roots = conservative_scan<Scan::Range>(s); return 0;
    case kFastCached:
        return walk_roots<false>(ctx, gcwalk::WalkerKind::Fast, s.stop_sp, roots, &walk_cache());
    case kFastCachedMark:
        return walk_roots<true>(ctx, gcwalk::WalkerKind::Fast, s.stop_sp, roots, &walk_cache());
    case kFastRecord:
        walk_cache().clear();
        return walk_roots<false>(ctx, gcwalk::WalkerKind::Fast, s.stop_sp, roots, &walk_cache());
    case kDayOne: return day_one_walk(ctx, roots);
    case kRelocate: return relocate_walk(ctx, s.stop_sp, roots);
    case kRelocateForward: return relocate_forward_walk(ctx, s.stop_sp, roots);
    case kRelocateInline: return relocate_inline_walk(ctx, s.stop_sp, roots);
    case kCBatch:
    case kCVisit: return c_walk(kind, ctx, s.stop_sp, roots);
    default: return 0;
    }
}

// ns per walk of `kind` over one batch of walks of at least 4 ms (the clock read once a walk).
double walk_batch(Kind kind, const gcwalk::SafepointContext& ctx, const Stack& s) {
    uint64_t roots = 0;
    int reps = 0;
    const auto t0 = std::chrono::steady_clock::now();
    auto t1 = t0;
    do {
        walk_once(kind, ctx, s, &roots);
        ++reps;
        t1 = std::chrono::steady_clock::now();
    } while (t1 - t0 < std::chrono::milliseconds(4));
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / reps;
}

// ns per walk of `kind`, the best of a few timed batches (for the ratios).
double time_walk(Kind kind, const gcwalk::SafepointContext& ctx, const Stack& s) {
    double best = 1e300;
    for (int batch = 0; batch < 5; ++batch) best = std::min(best, walk_batch(kind, ctx, s));
    return best;
}

// The managed frames of the stack in ctx, found with libunwind (the oracle): their number, the
// outermost one's SP, and its CFA (the SP of the native frame that called it).
bool measure_stack(const gcwalk::SafepointContext& ctx, Stack* s) {
    {
        gcwalk::Walker w(ctx, registry().index(), {});
        for (; w.valid(); w.next()) s->stop_sp = w.frame().sp, ++s->frames;
        if (w.failed() || s->frames == 0) return false;
    }
    unw_cursor_t c;
    unw_init_local(
        &c, reinterpret_cast<unw_context_t*>(const_cast<unsigned char*>(ctx.unwind_context)));
    while (unw_step(&c) > 0) {
        unw_word_t sp = 0;
        unw_get_reg(&c, UNW_REG_SP, &sp);
        if (sp > s->stop_sp) {
            s->hi = sp;
            break;
        }
    }
    s->lo = ctx.caller_sp;
    return s->hi > s->lo;
}

struct Run {
    benchmark::State* state;
    Kind kind;
    bool fp; // the ring with frame pointers
    int64_t depth, roots;
};

// Measures the ring's stack (measure_stack); on failure the benchmark is skipped (false).
bool calibrate(benchmark::State& state, const gcwalk::SafepointContext& ctx, int64_t depth,
               Stack* s) {
    if (measure_stack(ctx, s) && s->frames == static_cast<uint64_t>(depth) + 1) return true;
    state.SkipWithError("calibration walk failed or saw the wrong number of frames");
    for (auto _ : state) {
    }
    return false;
}

void in_stub(gcwalk::SafepointContext* ctx, void* arg) {
    Run& run = *static_cast<Run*>(arg);
    benchmark::State& state = *run.state;
    Stack s;
    if (!calibrate(state, *ctx, run.depth, &s)) return;
    // Marks stay set from the first iteration on (as a second root to an object finds it marked).
    heap().clear_marks();
    uint64_t roots = 0, count = 0;
    if (run.kind == kFastCached || run.kind == kFastCachedMark) { // the cache holds this stack
        walk_cache().clear();
        walk_once(run.kind, *ctx, s, &roots);
    }
    for (auto _ : state) count = walk_once(run.kind, *ctx, s, &roots);
    const bool walk = run.kind == kFast || run.kind == kFastMark || run.kind == kLibunwindWalker ||
                      run.kind == kFastCached || run.kind == kFastCachedMark ||
                      run.kind == kFastRecord || run.kind >= kDayOne;
    if ((run.kind == kFastCached || run.kind == kFastCachedMark) &&
        (walk_cache().frames() != s.frames || g_cached_frames != s.frames))
        state.SkipWithError("the WalkCache does not hold every frame");
    if (walk && (count != s.frames || roots != expected_roots(run.roots, run.depth)))
        state.SkipWithError("the walk saw a different number of frames or roots");
    if (run.kind == kUnwStep && count != s.frames)
        state.SkipWithError("unw_step saw a different number of frames");
    if (run.kind == kFastMark || run.kind == kConservative)
        state.counters["marked"] = static_cast<double>(heap().marked());
    if (run.kind == kRangeScan) state.counters["heap_words"] = static_cast<double>(roots);
    if (run.kind == kConservative || run.kind == kConservativeFind || run.kind == kRangeScan) {
        state.counters["words"] = static_cast<double>(s.words());
        state.counters["ns_per_word"] = benchmark::Counter(
            static_cast<double>(s.words()) * 1e-9,
            benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    }
    state.counters["frames"] = static_cast<double>(s.frames);
    state.counters["ns_per_frame"] = benchmark::Counter(
        static_cast<double>(s.frames) * 1e-9,
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    // The other walks of the same stack, timed here: how many times slower each is. Even-handed
    // comparisons with conservative scanning: visiting against finding (neither marks), marking
    // against marking.
    if (run.kind == kFast) {
        const double fast = time_walk(kFast, *ctx, s);
        for (Kind k : {kLibunwindWalker, kUnwStep, kFramePointer, kConservativeFind}) {
            if (k == kFramePointer && !run.fp) continue;
            state.counters[std::string("x_") + kKindName[k]] = time_walk(k, *ctx, s) / fast;
        }
    }
    if (run.kind == kDayOne) {
        // The targets: each precise path's time over the minimal walker's on the same stack, and
        // the fast walker's over the bare frame-pointer chain.
        const double day = time_walk(kDayOne, *ctx, s);
        for (Kind k : {kFast, kRelocate, kCBatch, kCVisit, kRelocateForward, kRelocateInline})
            state.counters[std::string("x_") + kKindName[k]] = time_walk(k, *ctx, s) / day;
        if (run.fp)
            state.counters["fast_over_fp"] =
                time_walk(kFast, *ctx, s) / time_walk(kFramePointer, *ctx, s);
    }
    if (run.kind == kFastCached) {
        const double fast = time_walk(kFastCached, *ctx, s);
        for (Kind k : {kFast, kConservativeFind, kFastRecord})
            state.counters[std::string("x_") + kKindName[k]] = time_walk(k, *ctx, s) / fast;
        walk_once(kFastCached, *ctx, s, &roots); // (time_walk(kFastRecord) left the cache full)
    }
    if (run.kind == kFastCachedMark) {
        const double fast = time_walk(kFastCachedMark, *ctx, s);
        state.counters["x_conservative"] = time_walk(kConservative, *ctx, s) / fast;
    }
    if (run.kind == kFastMark) {
        const double fast = time_walk(kFastMark, *ctx, s);
        for (Kind k : {kConservative, kRangeScan})
            state.counters[std::string("x_") + kKindName[k]] = time_walk(k, *ctx, s) / fast;
    }
}

void BM_Walk(benchmark::State& state) {
    const bool fp = state.range(1) != 0;
    Run run{&state, static_cast<Kind>(state.range(0)), fp, state.range(2), state.range(3)};
    state.SetLabel(std::string(kKindName[run.kind]) +
                   (run.roots == kMixed ? ", mixed frames" : "") +
                   (fp ? "" : ", no frame pointers"));
    ring_objects();
    using Ring = void (*)(int64_t, gcwalk::SafepointFn, void*);
    const Ring rings[2][4] = {{bn0_0, bn2_0, bn8_0, bnm_0}, {bw0_0, bw2_0, bw8_0, bwm_0}};
    rings[fp][run.roots == 0   ? 0
              : run.roots == 2 ? 1
              : run.roots == 8 ? 2
                               : 3](run.depth, in_stub, &run);
}

void walk_args(benchmark::internal::Benchmark* b) {
    for (int kind = 0; kind < kNumKinds; ++kind)
        for (int64_t fp : {1, 0})
            for (int64_t depth : {int64_t{10}, int64_t{100}, int64_t{1000}, kMaxDepth})
                for (int64_t roots : {int64_t{0}, int64_t{2}, int64_t{8}, kMixed}) {
                    if (kind == kFramePointer && !fp) continue; // no chain to follow
                    // libunwind walks of depth 10,000 are slow (docs/PERFORMANCE.md): fewer shapes
                    // there.
                    const bool slow = kind == kLibunwindWalker || kind == kUnwStep;
                    if (slow && (depth == kMaxDepth || (!fp && roots != kMixed)) &&
                        !(depth == 1000 && roots == 2))
                        continue;
                    b->Args({kind, fp, depth, roots});
                }
    b->ArgNames({"kind", "fp", "depth", "roots"});
}
BENCHMARK(BM_Walk)->Apply(walk_args)->Unit(benchmark::kMicrosecond);

// The fixed cost of one walk: entering the stub (pushes, context capture), the walker's setup and
// a one-frame walk, from a managed frame that calls the stub directly.
void one_frame(gcwalk::SafepointContext* ctx, void* arg) {
    const auto kind = *static_cast<gcwalk::WalkerKind*>(arg);
    uint64_t roots = 0;
    benchmark::DoNotOptimize(
        walk_roots<false>(*ctx, kind, ctx->caller_sp, &roots)); // just the innermost frame
}
void BM_WalkFixedCost(benchmark::State& state) {
    gcwalk::WalkerKind kind =
        state.range(0) ? gcwalk::WalkerKind::Fast : gcwalk::WalkerKind::Libunwind;
    const bool fp = state.range(1) != 0;
    state.SetLabel(std::string(state.range(0) ? "fast" : "libunwind_walker") +
                   (fp ? "" : ", no frame pointers"));
    registry();
    for (auto _ : state) (fp ? bw0_0 : bn0_0)(0, one_frame, &kind);
}
BENCHMARK(BM_WalkFixedCost)->Args({1, 1})->Args({1, 0})->Args({0, 1})->ArgNames({"fast", "fp"});

// Native frames: the same ring walked to the end of the stack (stop_sp = 0), through the native
// frames below it (this function, Google Benchmark's runner, main, libc's start frames, _start),
// against the walk that stops at the outermost managed frame. ns_per_native_frame is the
// difference per native frame (the median of 9 timed batches of each walk, alternated).
struct NativeRun {
    benchmark::State* state;
    gcwalk::WalkerKind kind;
    int64_t depth;
};

uint64_t native_frames_below(const gcwalk::SafepointContext& ctx, uint64_t stop_sp) {
    unw_cursor_t c;
    unw_init_local(
        &c, reinterpret_cast<unw_context_t*>(const_cast<unsigned char*>(ctx.unwind_context)));
    uint64_t n = 0;
    unw_word_t sp = 0;
    while (unw_step(&c) > 0) {
        unw_get_reg(&c, UNW_REG_SP, &sp);
        n += sp > stop_sp;
    }
    return n;
}

void native_in_stub(gcwalk::SafepointContext* ctx, void* arg) {
    NativeRun& run = *static_cast<NativeRun*>(arg);
    benchmark::State& state = *run.state;
    Stack s;
    if (!calibrate(state, *ctx, run.depth, &s)) return;
    const uint64_t native = native_frames_below(*ctx, s.stop_sp);
    uint64_t roots = 0, count = 0;
    const Kind kind = run.kind == gcwalk::WalkerKind::Fast ? kFast : kLibunwindWalker;
    for (auto _ : state) count = walk_roots<false>(*ctx, run.kind, 0, &roots);
    if (count != s.frames) state.SkipWithError("the full walk saw a different number of frames");
    // Both walks timed here, alternately, so that load on the machine hits both alike.
    std::vector<double> full, managed;
    Stack to_end = s;
    to_end.stop_sp = 0;
    for (int batch = 0; batch < 9; ++batch) {
        full.push_back(time_walk(kind, *ctx, to_end));
        managed.push_back(time_walk(kind, *ctx, s));
    }
    std::sort(full.begin(), full.end());
    std::sort(managed.begin(), managed.end());
    state.counters["frames"] = static_cast<double>(s.frames);
    state.counters["native_frames"] = static_cast<double>(native);
    state.counters["ns_full_walk"] = full[4];
    state.counters["ns_managed_walk"] = managed[4];
    state.counters["ns_per_native_frame"] =
        native ? (full[4] - managed[4]) / static_cast<double>(native) : 0.0;
    // How the fast walker stepped them (Walker diagnostics).
    if (run.kind == gcwalk::WalkerKind::Fast) {
        gcwalk::WalkOptions opts;
        opts.walker = run.kind;
        gcwalk::Walker w(*ctx, registry().index(), opts);
        while (w.valid()) w.next();
        state.counters["by_rule"] = static_cast<double>(w.native_rule_steps());
        state.counters["by_unw_step"] = static_cast<double>(w.libunwind_steps());
    }
}

void BM_WalkNative(benchmark::State& state) {
    NativeRun run{&state, state.range(0) ? gcwalk::WalkerKind::Fast : gcwalk::WalkerKind::Libunwind,
                  state.range(1)};
    state.SetLabel(state.range(0) ? "fast, to the end of the stack"
                                  : "libunwind_walker, to the end of the stack");
    ring_objects();
    bwm_0(run.depth, native_in_stub, &run);
}
BENCHMARK(BM_WalkNative)
    ->Args({1, 10})
    ->Args({1, 100})
    ->Args({0, 10})
    ->ArgNames({"fast", "depth"})
    ->Unit(benchmark::kMicrosecond);

} // namespace

// Placement: the same walk with the managed stack moved by 16-byte steps (an alloca before the
// ring) and, on each such stack, with the walking code's own frame (where the walker's state
// lives) moved by 16-byte steps below it: 16 x 16 placements, each timed in five passes (its best
// kept). The counters are the fastest and slowest ns per frame and the spread (slowest / fastest
// - 1), over the stack shifts, over the walker shifts, and over all.
//
// The canary: a fixed piece of work that depends on no placement (loads from a small array and
// integer operations, several instructions a cycle, as the fast walker runs), timed in
// alternation with each placement's walk (three rounds of a 4 ms batch of walks and a 1 ms batch
// of the canary, the best of each kept). This guest's speed changes for a while at a time (its
// host's other tenants): a placement whose best walk was timed while the canary, too, ran more
// than 5 % above its best was timed in such a while. The counters at the end say how many
// placements were slow (more than 15 % above the fastest) and how many of those had a slow canary,
// and give the spread over the placements whose canary was not slow.
constexpr int kShifts = 16;
constexpr int kPasses = 5;
constexpr double kCanarySteady = 1.05;
#ifdef GCWALK_BENCH_BUILD_B // bench_walk_b: the same source, its code laid out otherwise
constexpr const char* kBuildName = ", build b";
#else
constexpr const char* kBuildName = "";
#endif

struct PlacementRun {
    benchmark::State* state;
    Kind kind;
    int64_t depth, roots;
    int ring_shift = 0;
    bool failed = false;
    // [ring shift][walker shift]: the best ns per frame, and the canary's ns beside it
    double ns[kShifts][kShifts] = {};
    double canary[kShifts][kShifts] = {};
};

// The canary's work: ns per pass over a 4 KiB array, one 1 ms batch.
__attribute__((noinline)) double canary_batch() {
    static uint64_t words[512];
    if (words[1] == 0)
        for (uint64_t i = 0; i < 512; ++i) words[i] = i * 0x9E3779B97F4A7C15ull + 1;
    uint64_t sink = 0;
    int reps = 0;
    const auto t0 = std::chrono::steady_clock::now();
    auto t1 = t0;
    do {
        uint64_t a = 0, b = 0, c = 0, d = 0;
        for (int i = 0; i < 512; i += 4) {
            a += words[i];
            b ^= words[i + 1] << 1;
            c += words[i + 2] >> 3;
            d ^= words[i + 3] + a;
        }
        sink += a ^ b ^ c ^ d;
        asm volatile("" : "+r"(sink));
        ++reps;
        t1 = std::chrono::steady_clock::now();
    } while (t1 - t0 < std::chrono::milliseconds(1));
    benchmark::DoNotOptimize(sink);
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / reps;
}

// One placement of the walking code: three rounds of a 4 ms batch of walks and a canary batch;
// ns per walk and the canary's ns, each the best of the three.
__attribute__((noinline)) void time_cell_shifted(int shift, Kind kind,
                                                 const gcwalk::SafepointContext& ctx,
                                                 const Stack& s, double* walk, double* canary) {
    volatile char* pad = static_cast<char*>(__builtin_alloca(16 * shift + 16));
    pad[0] = 0;
    double w = 1e300, c = 1e300;
    for (int round = 0; round < 3; ++round) {
        w = std::min(w, walk_batch(kind, ctx, s));
        c = std::min(c, canary_batch());
    }
    *walk = w;
    *canary = c;
    asm volatile("" : : "r"(pad) : "memory");
}

void placement_in_stub(gcwalk::SafepointContext* ctx, void* arg) {
    PlacementRun& run = *static_cast<PlacementRun*>(arg);
    Stack s;
    if (!measure_stack(*ctx, &s) || s.frames != static_cast<uint64_t>(run.depth) + 1) {
        run.failed = true;
        return;
    }
    uint64_t roots = 0;
    if (walk_once(run.kind, *ctx, s, &roots) != s.frames ||
        roots != expected_roots(run.roots, run.depth)) {
        run.failed = true;
        return;
    }
    for (int w = 0; w < kShifts; ++w) {
        double walk = 0, canary = 0;
        time_cell_shifted(w, run.kind, *ctx, s, &walk, &canary);
        const double ns = walk / static_cast<double>(s.frames);
        double& best = run.ns[run.ring_shift][w];
        if (best == 0 || ns < best) best = ns, run.canary[run.ring_shift][w] = canary;
    }
}

using Ring = void (*)(int64_t, gcwalk::SafepointFn, void*);

__attribute__((noinline)) void ring_shifted(int shift, Ring ring, PlacementRun* run) {
    volatile char* pad = static_cast<char*>(__builtin_alloca(16 * shift + 16));
    pad[0] = 0;
    ring(run->depth, placement_in_stub, run);
    asm volatile("" : : "r"(pad) : "memory");
}

void BM_Placement(benchmark::State& state) {
    PlacementRun run;
    run.state = &state;
    run.kind = static_cast<Kind>(state.range(0));
    const bool fp = state.range(1) != 0;
    run.depth = 1000;
    run.roots = 2;
    state.SetLabel(std::string(kKindName[run.kind]) + (fp ? "" : ", no frame pointers") +
                   ", depth 1000, 2 roots" + kBuildName);
    ring_objects();
    for (int pass = 0; pass < kPasses; ++pass)
        for (run.ring_shift = 0; run.ring_shift < kShifts && !run.failed; ++run.ring_shift)
            ring_shifted(run.ring_shift, fp ? bw2_0 : bn2_0, &run);
    if (run.failed) {
        state.SkipWithError("the walk saw a different number of frames or roots");
        for (auto _ : state) {
        }
        return;
    }
    for (auto _ : state) {
    }
    auto span = [&](const double(&t)[kShifts][kShifts], auto&& pick) {
        double lo = 1e300, hi = 0;
        for (int r = 0; r < kShifts; ++r)
            for (int w = 0; w < kShifts; ++w)
                if (pick(r, w)) lo = std::min(lo, t[r][w]), hi = std::max(hi, t[r][w]);
        return std::pair{lo, hi};
    };
    const auto any = [](int, int) { return true; };
    const auto all = span(run.ns, any);
    const auto stack = span(run.ns, [](int, int w) { return w == 0; });
    const auto walker = span(run.ns, [](int r, int) { return r == 0; });
    const auto canary = span(run.canary, any);
    if (std::getenv("GCWALK_BENCH_PLACEMENTS")) { // the whole table, to stderr
        std::fprintf(stderr,
                     "%s, fp %d%s: ns per frame (the canary beside it, over its best), a row per "
                     "stack shift of 16 bytes\n",
                     kKindName[run.kind], fp ? 1 : 0, kBuildName);
        for (int r = 0; r < kShifts; ++r) {
            for (int w = 0; w < kShifts; ++w)
                std::fprintf(stderr, " %4.1f(%4.2f)", run.ns[r][w],
                             run.canary[r][w] / canary.first);
            std::fprintf(stderr, "\n");
        }
    }
    // The canary ran within 5 % of its best beside the placement's best walk.
    const auto steady = [&](int r, int w) {
        return run.canary[r][w] <= kCanarySteady * canary.first;
    };
    const auto calm = span(run.ns, steady);
    int slow = 0, slow_canary_slow = 0, calm_cells = 0;
    for (int r = 0; r < kShifts; ++r)
        for (int w = 0; w < kShifts; ++w) {
            calm_cells += steady(r, w);
            if (run.ns[r][w] > 1.15 * all.first) ++slow, slow_canary_slow += !steady(r, w);
        }
    state.counters["min_ns_per_frame"] = all.first;
    state.counters["max_ns_per_frame"] = all.second;
    state.counters["spread"] = all.second / all.first - 1;
    state.counters["spread_stack"] = stack.second / stack.first - 1;
    state.counters["spread_walker"] = walker.second / walker.first - 1;
    // The canary's spread beside the placements' best walks; the placements more than 15 %
    // above the fastest, and how many of them had a slow canary; the spread over the placements
    // with a steady one, and their number.
    state.counters["canary_spread"] = canary.second / canary.first - 1;
    state.counters["slow_cells"] = slow;
    state.counters["slow_cells_canary_slow"] = slow_canary_slow;
    state.counters["spread_canary_steady"] = calm.second / calm.first - 1;
    state.counters["canary_steady_cells"] = calm_cells;
}
BENCHMARK(BM_Placement)
    ->ArgsProduct({{kFast, kDayOne, kRelocate, kCBatch}, {1, 0}})
    ->ArgNames({"kind", "fp"})
    ->Iterations(1)
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
