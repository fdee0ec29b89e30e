// WalkCache tests on managed code compiled by opt-14/llc-14 (cache_frames.ll). The oracle is
// the fast walker without a cache on the same frozen stack: a cached walk must yield the same
// frames, register slots and values, and root slots (through Walker, visit_roots and
// for_each_root), and take from the cache exactly the frames whose steps still hold. The stack is
// changed on purpose (an outer caller, a return address, a saved RBP) to see the replay stop.
#include "../process_registry.hpp"
#include "frame_snapshot.hpp"
#include <gcwalk/image_registry.hpp>
#include <gcwalk/roots.hpp>
#include <gcwalk/walker.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

extern "C" {
void wc_top(void* obj, void* obj2, int64_t n, int64_t which);
void wc_outer_a(void* obj, void* obj2, int64_t n);
void wc_outer_b(void* obj, void* obj2, int64_t n);
void wc_fp(void* obj, void* obj2, int64_t n);
void wc_fpchain(int64_t n);
}

namespace {

using gcwalk::test::registry;

alignas(16) char g_obj[64], g_obj2[64];

// What a walk yields, whichever way it is asked.
using Frame = gcwalk::test::FrameSnapshot;

struct Result {
    std::vector<Frame> frames;     // Walker::next()
    std::vector<uint64_t> visited; // visit_roots: frame, root and derived events
    std::vector<void**> each;      // for_each_root: base slots
    bool failed[3] = {};
    std::string error[3];
    uint64_t cached[3] = {}; // frames taken from the cache, per way
    gcwalk::WalkStats visit_stats, each_stats;
};

using Events = gcwalk::test::RootEvents;

const gcwalk::FrameIndex* g_index = nullptr; // the index walks use (registry().index() by default)

// Walks three ways, each with the cache (so the first records and the next ones replay).
Result walk(const gcwalk::SafepointContext& ctx, gcwalk::WalkCache* cache, uint64_t stop_sp = 0) {
    const gcwalk::FrameIndex& index = g_index ? *g_index : registry().index();
    gcwalk::WalkOptions opts;
    opts.walker = gcwalk::WalkerKind::Fast;
    opts.cache = cache;
    opts.stop_sp = stop_sp;
    Result r;
    {
        gcwalk::Walker w(ctx, index, opts);
        for (; w.valid(); w.next()) {
            r.frames.push_back(Frame::of(w));
        }
        r.failed[0] = w.failed();
        r.error[0] = w.error().message;
        r.cached[0] = w.cached();
    }
    Events v;
    gcwalk::WalkError err;
    r.failed[1] = !gcwalk::visit_roots(ctx, index, v, opts, &r.visit_stats, &err);
    r.error[1] = err.message;
    r.cached[1] = r.visit_stats.cached;
    r.visited = std::move(v.seen);
    r.failed[2] = !gcwalk::for_each_root(
        ctx, index, [&](void** s) { r.each.push_back(s); }, opts, &r.each_stats, &err);
    r.error[2] = err.message;
    r.cached[2] = r.each_stats.cached;
    return r;
}

void same(const Result& ref, const Result& got) {
    REQUIRE(got.frames.size() == ref.frames.size());
    for (size_t i = 0; i < ref.frames.size(); ++i) {
        INFO("frame " << i);
        CHECK(got.frames[i] == ref.frames[i]);
    }
    CHECK(got.visited == ref.visited);
    CHECK(got.each == ref.each);
    for (int k = 0; k < 3; ++k) {
        CHECK(got.failed[k] == ref.failed[k]);
        CHECK(got.error[k] == ref.error[k]);
    }
    CHECK(got.visit_stats.frames == ref.visit_stats.frames);
    CHECK(got.visit_stats.roots == ref.visit_stats.roots);
    CHECK(got.each_stats.frames == ref.each_stats.frames);
    CHECK(got.each_stats.roots == ref.each_stats.roots);
}

// Whether return address `ra` lies in the managed function at `fn` (the executable's symbols are
// not exported, so dladdr cannot name them).
bool in_function(uint64_t ra, void (*fn)()) {
    const gcwalk::FrameRecord* f = registry().index().function_containing(ra - 1);
    return f && f->function_address == reinterpret_cast<uint64_t>(fn);
}
template <class F> void (*as_fn(F* f))() {
    return reinterpret_cast<void (*)()>(f);
}

// Frames before the first one in `fn` (all frames when none is).
template <class F> size_t frames_before(const Result& r, F* fn) {
    for (size_t i = 0; i < r.frames.size(); ++i)
        if (in_function(r.frames[i].ra, as_fn(fn))) return i;
    return r.frames.size();
}

std::function<void(const gcwalk::SafepointContext&)> g_scenario;
int g_runs = 0;

void run(int64_t depth, int64_t which,
         std::function<void(const gcwalk::SafepointContext&)> scenario) {
    g_scenario = std::move(scenario);
    g_runs = 0;
    wc_top(g_obj, g_obj2, depth, which);
    g_scenario = nullptr;
    REQUIRE(g_runs == 1);
}

} // namespace

extern "C" {
void wc_in_stub(void* ctx, void*) {
    ++g_runs;
    g_scenario(*static_cast<gcwalk::SafepointContext*>(ctx));
}
__attribute__((noinline)) void wc_use(void* p) {
    asm volatile("" : : "r"(p) : "memory");
}
__attribute__((noinline)) void wc_sink(char* p) {
    asm volatile("" : : "r"(p) : "memory");
}
__attribute__((noinline)) void wc_native(void* obj, void* obj2, int64_t n, int64_t) {
    wc_outer_a(obj, obj2, n);
    asm volatile("" ::: "memory");
}
}

TEST_CASE("a cached walk yields what an uncached walk yields", "[cache]") {
    for (int64_t which : {0, 2}) {
        for (int64_t depth : {0, 1, 6, 200}) {
            INFO("depth " << depth << (which == 2 ? ", a native frame below" : ""));
            run(depth, which, [&](const gcwalk::SafepointContext& ctx) {
                const Result ref = walk(ctx, nullptr);
                REQUIRE_FALSE(ref.failed[0]);
                REQUIRE(ref.frames.size() >= static_cast<size_t>(depth) + 5);
                CHECK(ref.each_stats.roots > 0);
                // Frames reached by rule from the stub: all of them, or those above the native
                // frame.
                const size_t by_rule = which == 2 ? frames_before(ref, &wc_top) : ref.frames.size();
                if (which == 2) CHECK(by_rule < ref.frames.size());

                gcwalk::WalkCache cache(4096);
                const Result first =
                    walk(ctx, &cache); // the Walker loop records, the others replay
                same(ref, first);
                CHECK(first.cached[0] == 0);
                CHECK(first.cached[1] == by_rule);
                CHECK(first.cached[2] == by_rule);
                CHECK(cache.frames() == by_rule);
                const Result again = walk(ctx, &cache);
                same(ref, again);
                for (uint64_t c : again.cached) CHECK(c == by_rule);

                cache.clear();
                CHECK(walk(ctx, &cache).cached[0] == 0);
            });
        }
    }
}

TEST_CASE("a changed top: the unchanged outer frames are taken, the new ones recorded", "[cache]") {
    gcwalk::WalkCache cache(4096);
    std::vector<Frame> before;
    run(9, 0, [&](const gcwalk::SafepointContext& ctx) {
        before = walk(ctx, &cache).frames;
        CHECK(cache.frames() == before.size());
    });
    // One level deeper from the same outer path: every frame has moved up by one level, and the
    // frames from the bottom up to the last recursion level both walks share are where they were.
    run(10, 0, [&](const gcwalk::SafepointContext& ctx) {
        const Result ref = walk(ctx, nullptr);
        size_t shared = 0; // frames equal (SP, return address) counted from the outermost
        while (shared < before.size() && shared < ref.frames.size() &&
               before[before.size() - 1 - shared].sp ==
                   ref.frames[ref.frames.size() - 1 - shared].sp &&
               before[before.size() - 1 - shared].ra ==
                   ref.frames[ref.frames.size() - 1 - shared].ra)
            ++shared;
        REQUIRE(shared > 8);
        REQUIRE(shared < ref.frames.size());
        const Result got = walk(ctx, &cache);
        same(ref, got);
        CHECK(got.cached[0] == shared); // stepped to the first shared frame, the rest cached
        CHECK(got.cached[1] == ref.frames.size()); // the new top was recorded after them
        CHECK(got.cached[2] == ref.frames.size());
        CHECK(cache.frames() == ref.frames.size());
    });
    // More tops over the same bottom: each walk meets frames recorded by different earlier walks
    // (whose save slots for registers no managed frame saves were the stub's of their own time).
    for (int64_t depth : {11, 8, 12, 9}) {
        INFO("depth " << depth);
        run(depth, 0, [&](const gcwalk::SafepointContext& ctx) {
            const Result ref = walk(ctx, nullptr);
            const Result got = walk(ctx, &cache);
            same(ref, got);
            CHECK(got.cached[0] > 8);
            CHECK(got.cached[1] == ref.frames.size());
        });
    }
}

TEST_CASE("a changed outer frame: nothing is taken, and the stack is recorded again", "[cache]") {
    gcwalk::WalkCache cache(4096);
    uint64_t recorded_sp = 0;
    run(9, 0, [&](const gcwalk::SafepointContext& ctx) { // through wc_outer_a
        recorded_sp = ctx.caller_sp;
        walk(ctx, &cache);
    });
    run(9, 1, [&](const gcwalk::SafepointContext& ctx) { // wc_outer_b: the same frames inward of it
        REQUIRE(ctx.caller_sp == recorded_sp);
        const Result ref = walk(ctx, nullptr);
        const size_t inner = frames_before(ref, &wc_outer_b);
        REQUIRE(inner > 10);
        REQUIRE(inner < ref.frames.size());
        const Result got = walk(ctx, &cache);
        same(ref, got);
        // Every frame inward of wc_outer_b is where it was, but the steps outward of them read a
        // return address (into wc_outer_b) that changed: none of them is taken.
        CHECK(got.cached[0] == 0);
        CHECK(got.cached[1] == ref.frames.size()); // recorded again by the Walker loop
        CHECK(cache.frames() == ref.frames.size());
    });
}

TEST_CASE("a changed return address or saved RBP is seen, and the walk follows the stack",
          "[cache]") {
    run(12, 0, [](const gcwalk::SafepointContext& ctx) {
        gcwalk::WalkCache cache(4096);
        const Result ref = walk(ctx, nullptr);
        REQUIRE(walk(ctx, &cache).cached[2] == ref.frames.size());
        REQUIRE(ref.frames.size() > 8);

        // A return address of 0 ends a walk: frame 6's caller is now the end of the stack.
        auto* ra_slot = reinterpret_cast<uint64_t*>(ref.frames[6].sp - 8);
        REQUIRE(*ra_slot == ref.frames[6].ra);
        const uint64_t saved_ra = *ra_slot;
        *ra_slot = 0;
        const Result cut = walk(ctx, nullptr);
        const Result cut_cached = walk(ctx, &cache);
        *ra_slot = saved_ra;
        CHECK(cut.frames.size() == 6);
        same(cut, cut_cached);
        CHECK(cut_cached.cached[0] ==
              0); // the word changed: nothing holds; recorded again (6 frames)
        CHECK(cut_cached.cached[1] == 6);
        CHECK(cache.frames() == 6);

        // Restored: the 6 frames hold; the walk steps on past them (the cache ended where the
        // cut walk did), so the cache is found short and recorded again by the next walk.
        const Result restored = walk(ctx, &cache);
        same(ref, restored);
        CHECK(restored.cached[0] == 6);
        CHECK(restored.cached[1] == 0);
        CHECK(restored.cached[2] == ref.frames.size());

        // A frame whose CFA comes from its saved RBP (wc_fp, frame-pointer frames): point the
        // saved RBP below the frame, and the walk must fail as the uncached one does.
        size_t k = 0;
        for (size_t i = 1; i + 1 < ref.frames.size() && !k; ++i)
            if (in_function(ref.frames[i].ra, as_fn(&wc_fp))) k = i;
        REQUIRE(k != 0);
        uint64_t* rbp_slot = ref.frames[k].slots[1]; // where frame k's RBP was saved
        REQUIRE(rbp_slot != nullptr);
        const uint64_t saved_rbp = *rbp_slot;
        *rbp_slot = ref.frames[k].sp - 64;
        const Result bad = walk(ctx, nullptr);
        const Result bad_cached = walk(ctx, &cache);
        *rbp_slot = saved_rbp;
        CHECK(bad.failed[0]);
        CHECK(bad.error[0].find("corrupt stack") != std::string::npos);
        same(bad, bad_cached);
        CHECK(bad_cached.cached[0] == 0);
        same(ref, walk(ctx, &cache));
        CHECK(walk(ctx, &cache).cached[0] == ref.frames.size());
    });
}

TEST_CASE("another index, other options or a small cache", "[cache]") {
    run(30, 0, [](const gcwalk::SafepointContext& ctx) {
        const Result ref = walk(ctx, nullptr);
        gcwalk::WalkCache cache(4096);
        REQUIRE(walk(ctx, &cache).cached[1] == ref.frames.size());

        // An index built again from the same images has another serial: nothing is taken.
        std::vector<gcwalk::ImageStackMaps> images(registry().index().images().begin(),
                                                   registry().index().images().end());
        auto rebuilt = gcwalk::FrameIndex::build(std::move(images));
        REQUIRE(rebuilt);
        CHECK(rebuilt->serial() != registry().index().serial());
        g_index = &*rebuilt;
        const Result other = walk(ctx, &cache);
        g_index = nullptr;
        CHECK(other.cached[0] == 0);
        CHECK(other.cached[1] == ref.frames.size()); // recorded against the rebuilt index
        same(ref, other);
        CHECK(walk(ctx, &cache).cached[0] == 0); // and back
        // Another stop_sp: nothing is taken either.
        const uint64_t stop = ref.frames[10].sp;
        const Result stopped = walk(ctx, &cache, stop);
        CHECK(stopped.cached[0] == 0);
        CHECK(stopped.frames.size() == 11);
        CHECK(stopped.cached[1] == 11);
        same(walk(ctx, nullptr, stop), stopped);

        // A cache of 5 frames keeps the innermost 5 of a walk that records; a walk that takes
        // them steps on past them (so the next one records again).
        gcwalk::WalkCache small(5);
        CHECK(small.capacity() == 5);
        const Result s1 = walk(ctx, &small);
        same(ref, s1);
        CHECK(s1.cached[0] == 0);
        CHECK(s1.cached[1] == 5);
        CHECK(small.frames() == 5);
    });
}

TEST_CASE("a stack that keeps changing is recorded less and less often", "[cache]") {
    // Two indexes built from the same images, used in turn: a cache recorded against one never
    // holds for the other, so every walk finds nothing to take.
    std::vector<gcwalk::FrameIndex> indexes;
    for (int i = 0; i < 2; ++i) {
        auto idx = gcwalk::FrameIndex::build(std::vector<gcwalk::ImageStackMaps>(
            registry().index().images().begin(), registry().index().images().end()));
        REQUIRE(idx);
        indexes.push_back(std::move(*idx));
    }
    gcwalk::WalkCache cache(4096);
    std::vector<int> recorded; // per walk: 1 when it recorded
    run(6, 0, [&](const gcwalk::SafepointContext& ctx) {
        for (int walk = 0; walk < 24; ++walk) {
            gcwalk::WalkOptions opts;
            opts.walker = gcwalk::WalkerKind::Fast;
            opts.cache = &cache;
            size_t frames = 0;
            {
                gcwalk::Walker w(ctx, indexes[walk % 2], opts);
                for (; w.valid(); w.next()) ++frames;
                CHECK(w.cached() == 0);
            }
            // A walk that recorded left the cache for its own index.
            recorded.push_back(
                cache.serial() == indexes[walk % 2].serial() && cache.frames() == frames ? 1 : 0);
        }
    });
    // Misses in a row n = 1, 2, 3, ... hold off recording for min(2^(n-1) - 1, 7) walks.
    const std::vector<int> expected = {1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0,
                                       0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    CHECK(recorded == expected);
}

TEST_CASE("a long run of adjacent checked words: a change anywhere in it is seen", "[cache]") {
    // 40 frame-pointer frames of two words each: one run of 80 adjacent words.
    run(40, 3, [](const gcwalk::SafepointContext& ctx) {
        const Result ref = walk(ctx, nullptr);
        size_t chain = 0;
        for (const Frame& f : ref.frames) chain += in_function(f.ra, as_fn(&wc_fpchain)) ? 1 : 0;
        REQUIRE(chain == 41);
        gcwalk::WalkCache cache(4096);
        REQUIRE(walk(ctx, &cache).cached[1] == ref.frames.size());
        for (size_t k : {size_t{3}, size_t{11}, size_t{20}, size_t{29}, size_t{37}}) {
            for (int which : {0, 1}) { // frame k's return address, or its saved RBP
                INFO("frame " << k << (which ? ": saved RBP" : ": return address"));
                auto* word = which ? ref.frames[k].slots[1]
                                   : reinterpret_cast<uint64_t*>(ref.frames[k].sp - 8);
                REQUIRE(word != nullptr);
                const uint64_t saved = *word;
                *word = which ? ref.frames[k].sp - 64 : 0; // a CFA below the frame, or the end
                const Result plain = walk(ctx, nullptr);
                const Result cached = walk(ctx, &cache);
                *word = saved;
                same(plain, cached);
                CHECK(cached.cached[0] == 0);
                same(ref, walk(ctx, &cache)); // (records the restored stack again)
                CHECK(walk(ctx, &cache).cached[0] == ref.frames.size());
            }
        }
    });
}

TEST_CASE("any stack word zeroed: the cached walk still yields what the uncached one does",
          "[cache]") {
    // Every word from the stub's save slots up to the outermost managed frame's SP, zeroed one at
    // a time (0 is a safe value for every word: a return address of 0 ends a walk, a saved RBP of
    // 0 gives an implausible CFA), with a cache recorded on the intact stack.
    run(6, 0, [](const gcwalk::SafepointContext& ctx) {
        const Result ref = walk(ctx, nullptr);
        REQUIRE_FALSE(ref.failed[0]);
        gcwalk::WalkCache cache(4096);
        REQUIRE(walk(ctx, &cache).cached[1] == ref.frames.size());
        auto* lo = reinterpret_cast<uint64_t*>(ctx.caller_sp - 56); // the stub's six save slots
        auto* hi = reinterpret_cast<uint64_t*>(ref.frames.back().sp);
        REQUIRE(hi - lo > 40);
        size_t seen_changed = 0, words = 0;
        for (uint64_t* word = lo; word < hi; ++word, ++words) {
            INFO("word at +" << (word - lo) * 8 << " of " << (hi - lo) * 8);
            const uint64_t saved = *word;
            *word = 0;
            const Result plain = walk(ctx, nullptr, 0);
            const Result cached = walk(ctx, &cache);
            *word = saved;
            same(plain, cached);
            if (plain.frames.size() != ref.frames.size() || plain.failed[0]) ++seen_changed;
            // The intact stack again: recorded anew where the zeroed word was checked.
            same(ref, walk(ctx, &cache));
        }
        CHECK(seen_changed > 5);         // some words mattered (return addresses, saved RBPs)
        CHECK(words - seen_changed > 5); // and some did not (spills, root slots)
    });
}
