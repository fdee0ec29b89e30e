// Tests of the safepoint stub and the libunwind walker on managed code compiled by opt-14/llc-14
// (walker_frames.ll): frame counts and return addresses, a native frame between managed frames,
// deopt values, and a return address without a record in precise and best-effort modes.
#include "../process_registry.hpp"
#include <gcwalk/frame_table.hpp>
#include <gcwalk/image_registry.hpp>
#include <gcwalk/statepoint.hpp>
#include <gcwalk/walker.hpp>

#include <catch2/catch.hpp>

#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

extern "C" {
void wt_recurse(int64_t n);
void wt_through_native(int64_t n);
int64_t wt_deopt(int64_t x);
void wt_outer_no_record();
}

namespace {

using gcwalk::test::registry;

struct FrameSeen {
    uint64_t ra, sp;
    uint32_t depth;
    uint64_t rbx_slot_in_stack; // register_slot(kDwarfRbx) was a real slot outside the context
};

// What the safepoint callbacks record (filled inside the stub; read after it returns).
struct Seen {
    gcwalk::WalkOptions options;
    std::vector<FrameSeen> frames;
    bool failed = false;
    uint64_t skipped = 0;
    gcwalk::WalkError error;
    uint64_t harness_ra = 0; // __builtin_return_address(0) of wt_safepoint / wt_leaf
    uint64_t caller_ra = 0, caller_sp = 0;
    std::vector<uint64_t> deopt; // resolved deopt values of the first frame
    bool deopt_ok = false;
    const gcwalk::FrameIndex* index = nullptr; // the index to walk with (null: the registry's)
    std::vector<uint32_t> roots; // per frame: its record's id, then its roots' bits (base, derived)
};
Seen g_seen; // what wt_safepoint saw
Seen g_leaf; // what wt_leaf saw

// Where a walk writes: the harness passes its Seen through the stub's `arg`.
#define g_seen (*static_cast<Seen*>(arg))
void walk(gcwalk::SafepointContext* ctx, void* arg) {
    g_seen.caller_ra = ctx->caller_return_address;
    g_seen.caller_sp = ctx->caller_sp;
    const gcwalk::FrameIndex& index = g_seen.index ? *g_seen.index : registry().index();
    gcwalk::Walker w(*ctx, index, g_seen.options);
    for (; w.valid(); w.next()) {
        const gcwalk::WalkFrame& f = w.frame();
        g_seen.frames.push_back(
            {f.return_address, f.sp, f.depth, w.register_slot(gcwalk::kDwarfRbx) != nullptr});
        if (gcwalk::RecordRef r; w.record(&r))
            g_seen.roots.push_back(static_cast<uint32_t>(r.view.id()));
        for (const gcwalk::RootPair& p : index.roots(*f.site)) {
            g_seen.roots.push_back(p.base.bits);
            g_seen.roots.push_back(p.derived.bits);
        }
        if (g_seen.frames.size() == 1) {
            gcwalk::RecordRef ref;
            if (!w.record(&ref) || !ref.is_statepoint) continue;
            const gcwalk::StackMapBlob& blob = index.blob(ref);
            auto layout = gcwalk::decode_statepoint(blob, ref.view);
            if (!layout) continue;
            g_seen.deopt_ok = true;
            for (uint16_t i = 0; i < layout->num_deopt; ++i) {
                gcwalk::ResolvedLocation v;
                if (!w.resolve(blob, ref.view.location(layout->first_deopt + i), &v))
                    g_seen.deopt_ok = false;
                g_seen.deopt.push_back(v.value);
            }
        }
    }
    g_seen.failed = w.failed();
    g_seen.skipped = w.skipped();
    g_seen.error = w.error();
}
#undef g_seen

void reset(bool precise = true) {
    for (Seen* s : {&g_seen, &g_leaf}) {
        *s = Seen{};
        s->options.precise = precise;
        s->frames.reserve(64);
        s->deopt.reserve(8);
        s->roots.reserve(256);
    }
}

const gcwalk::FrameRecord* function_of(uint64_t ra) {
    return registry().index().function_containing(ra - 1);
}

uint64_t addr(void (*f)(int64_t)) {
    return reinterpret_cast<uint64_t>(f);
}

} // namespace

extern "C" {
// The harness the managed code calls: enters the stub, whose callback walks.
__attribute__((noinline)) void wt_safepoint() {
    g_seen.harness_ra = reinterpret_cast<uint64_t>(__builtin_return_address(0));
    gcwalk_safepoint_enter(walk, &g_seen);
    asm volatile("" ::: "memory"); // keep the call above a real call
}
__attribute__((noinline)) void wt_leaf() {
    g_leaf.harness_ra = reinterpret_cast<uint64_t>(__builtin_return_address(0));
    gcwalk_safepoint_enter(walk, &g_leaf);
    asm volatile("" ::: "memory");
}
__attribute__((noinline)) void wt_native(int64_t n) {
    wt_recurse(n);
    asm volatile("" ::: "memory");
}
}

TEST_CASE("the registry finds the walker fixture's call sites", "[walker]") {
    const gcwalk::FrameIndex& index = registry().index();
    CHECK(index.num_call_sites() >= 6);
    const gcwalk::FrameRecord* f = index.function_containing(addr(wt_recurse));
    REQUIRE(f != nullptr);
    CHECK(f->function_address == addr(wt_recurse));
}

TEST_CASE("recursion depth N gives N + 1 managed frames with the call sites' return addresses",
          "[walker]") {
    for (int64_t n : {0, 1, 5, 40}) {
        reset();
        wt_recurse(n);
        INFO("depth " << n);
        CHECK_FALSE(g_seen.failed);
        REQUIRE(g_seen.frames.size() == static_cast<size_t>(n + 1));
        // The innermost frame is where wt_recurse called the harness.
        CHECK(g_seen.frames[0].ra == g_seen.harness_ra);
        for (size_t i = 0; i < g_seen.frames.size(); ++i) {
            const gcwalk::FrameRecord* f = function_of(g_seen.frames[i].ra);
            REQUIRE(f != nullptr);
            CHECK(f->function_address == addr(wt_recurse));
            CHECK(registry().index().find(g_seen.frames[i].ra) != nullptr);
            if (i > 0) {
                // Outer frames all return to the recursive call site, a different one.
                CHECK(g_seen.frames[i].ra != g_seen.frames[0].ra);
                CHECK(g_seen.frames[i].ra == g_seen.frames[1].ra);
                // Each frame's SP lies above the previous one by its frame size (StackSize 8 + RA).
                CHECK(g_seen.frames[i].sp == g_seen.frames[i - 1].sp + 16);
                CHECK(g_seen.frames[i].depth == g_seen.frames[i - 1].depth + 1);
            }
            // The stub's pushes are real save slots for the frames above it.
            CHECK(g_seen.frames[i].rbx_slot_in_stack);
        }
        // The stub records its own caller: the harness, below the first managed frame.
        CHECK(g_seen.caller_ra != 0);
        CHECK(function_of(g_seen.caller_ra) == nullptr);
        CHECK(g_seen.caller_sp < g_seen.frames[0].sp);
    }
}

TEST_CASE("stop_sp ends the walk above a chosen frame", "[walker]") {
    std::vector<FrameSeen> full;
    for (int run = 0; run < 2; ++run) {
        reset();
        if (run == 1) g_seen.options.stop_sp = full[2].sp; // same call chain: same SPs
        wt_recurse(5);
        if (run == 0) full = g_seen.frames;
    }
    REQUIRE(full.size() == 6);
    CHECK_FALSE(g_seen.failed);
    REQUIRE(g_seen.frames.size() == 3);
    CHECK(g_seen.frames[2].sp == full[2].sp);
}

TEST_CASE("a native frame between managed frames is stepped over", "[walker]") {
    reset();
    wt_through_native(3);
    CHECK_FALSE(g_seen.failed);
    REQUIRE(g_seen.frames.size() == 5); // 4 x wt_recurse, then wt_through_native
    for (size_t i = 0; i < 4; ++i)
        CHECK(function_of(g_seen.frames[i].ra)->function_address == addr(wt_recurse));
    const gcwalk::FrameRecord* outer = function_of(g_seen.frames[4].ra);
    REQUIRE(outer != nullptr);
    CHECK(outer->function_address == addr(wt_through_native));
    // wt_native's frame lies between them: more than one managed frame size apart.
    CHECK(g_seen.frames[4].depth >= g_seen.frames[3].depth + 2);
}

TEST_CASE("deopt values resolve in the walker's frame", "[walker]") {
    reset();
    int64_t r = wt_deopt(424242);
    CHECK(r == 424243);
    CHECK_FALSE(g_seen.failed);
    REQUIRE(g_seen.frames.size() == 1);
    REQUIRE(g_seen.deopt_ok);
    REQUIRE(g_seen.deopt.size() == 3);
    CHECK(g_seen.deopt[0] == 424242);
    CHECK(g_seen.deopt[1] == 12345678901234u);
    CHECK(g_seen.deopt[2] == static_cast<uint64_t>(int64_t{-5}));
}

TEST_CASE("a return address inside a managed function without a record", "[walker]") {
    SECTION("precise: the walk stops with an error naming the address and the function range") {
        reset(true);
        wt_outer_no_record();
        CHECK(g_leaf.failed);
        CHECK(g_leaf.frames.empty());
        const gcwalk::FrameRecord* f = function_of(g_leaf.harness_ra);
        REQUIRE(f != nullptr);
        CHECK(registry().index().find(g_leaf.harness_ra) == nullptr);
        char expected[256];
        std::snprintf(expected, sizeof expected,
                      "return address 0x%" PRIx64 " is inside managed function 0x%" PRIx64
                      "-0x%" PRIx64 " (%s) but has no stack map record",
                      g_leaf.harness_ra, f->function_address,
                      f->function_address + f->function_size,
                      registry().index().images()[f->image].name.c_str());
        CHECK(std::string(g_leaf.error.message) == expected);
        CHECK(g_leaf.error.address == g_leaf.harness_ra);
        // The second call of wt_no_record has a record: that walk succeeds (wt_no_record, outer).
        CHECK_FALSE(g_seen.failed);
        CHECK(g_seen.frames.size() == 2);
    }
    SECTION("best-effort: the frame is skipped, counted, and the walk goes on") {
        reset(false);
        wt_outer_no_record();
        CHECK_FALSE(g_leaf.failed);
        CHECK(g_leaf.skipped == 1);
        CHECK(g_leaf.error.address == g_leaf.harness_ra);
        CHECK(std::string(g_leaf.error.message).find("but has no stack map record") !=
              std::string::npos);
        REQUIRE(g_leaf.frames.size() == 1); // wt_outer_no_record only
        const gcwalk::FrameRecord* f = function_of(g_leaf.frames[0].ra);
        REQUIRE(f != nullptr);
        CHECK(f->function_address == reinterpret_cast<uint64_t>(&wt_outer_no_record));
    }
}

TEST_CASE("both walkers walk an index built from packed frame tables as the registry's",
          "[walker]") {
    // Every image of the registry's index packed (its CFI rules included) and indexed from the
    // tables: the walks must see the same frames, records and roots as with the stack maps.
    std::vector<gcwalk::ImageStackMaps> tables;
    for (const gcwalk::ImageStackMaps& img : registry().index().images()) {
        if (img.section.empty()) continue;
        auto t = gcwalk::pack_frame_table(img, {});
        INFO((t ? "" : t.error().message));
        REQUIRE(t);
        gcwalk::ImageStackMaps p;
        p.name = img.name;
        p.load_bias = img.load_bias;
        p.table = std::make_shared<const gcwalk::FrameTable>(std::move(*t));
        tables.push_back(std::move(p));
    }
    REQUIRE_FALSE(tables.empty());
    auto packed = gcwalk::FrameIndex::build(std::move(tables));
    INFO((packed ? "" : packed.error().message));
    REQUIRE(packed);
    REQUIRE(packed->num_call_sites() == registry().index().num_call_sites());
    for (auto kind : {gcwalk::WalkerKind::Libunwind, gcwalk::WalkerKind::Fast}) {
        for (int64_t n : {0, 3}) {
            INFO("walker " << static_cast<int>(kind) << ", depth " << n);
            Seen by_index[2];
            for (int which = 0; which < 2; ++which) {
                reset();
                g_seen.options.walker = kind;
                g_seen.index = which == 0 ? &registry().index() : &*packed;
                wt_through_native(n);
                by_index[which] = g_seen;
            }
            const Seen &v3 = by_index[0], &table = by_index[1];
            CHECK_FALSE(v3.failed);
            CHECK_FALSE(table.failed);
            REQUIRE(v3.frames.size() == static_cast<size_t>(n + 2));
            REQUIRE(table.frames.size() == v3.frames.size());
            for (size_t i = 0; i < v3.frames.size(); ++i) {
                CHECK(table.frames[i].ra == v3.frames[i].ra);
                CHECK(table.frames[i].sp == v3.frames[i].sp);
                CHECK(table.frames[i].rbx_slot_in_stack == v3.frames[i].rbx_slot_in_stack);
            }
            CHECK(table.roots.size() >= v3.frames.size()); // a record id per frame at least
            CHECK(table.roots == v3.roots);
            CHECK(table.deopt == v3.deopt);
        }
    }
}
