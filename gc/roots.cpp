// Root resolution, visiting and relocation: turns each frame's RootPairs into slots and moves
// the objects they hold, reading every old value of a frame before any slot is written.
#include <gcwalk/gcwalk.h>
#include <gcwalk/roots.hpp>

#include <cinttypes>
#include <cstddef>
#include <cstring>

namespace gcwalk {

namespace {

bool slot_in_frame(uint64_t sp, uint64_t slot) noexcept {
    return slot >= sp && slot - sp < (uint64_t{1} << 30);
}

} // namespace

void** resolve_root(const Walker& walker, RootLoc loc) noexcept {
    if (loc.is_sp_slot()) [[likely]]
        return reinterpret_cast<void**>(walker.frame().sp + static_cast<int64_t>(loc.offset()));
    switch (loc.kind()) {
    case RootLoc::kRegister: return reinterpret_cast<void**>(walker.register_slot(loc.dwarf_reg()));
    case RootLoc::kMemory: {
        uint64_t base = 0;
        if (!walker.register_value(loc.dwarf_reg(), &base)) return nullptr;
        const uint64_t slot = base + static_cast<int64_t>(loc.offset());
        // A slot of this frame (or its incoming arguments) lies above its SP, as a caller's frame
        // does (fast_walker.cpp's plausible_step): a frame pointer the stack lost says otherwise.
        if (!slot_in_frame(walker.frame().sp, slot)) return nullptr;
        return reinterpret_cast<void**>(slot);
    }
    default: return nullptr;
    }
}

namespace {

// One (base, derived) pair of the current frame, resolved, with the values read before any write.
struct Pair {
    void** base;
    void** derived; // == base for a plain root
    uintptr_t old_base;
    uintptr_t old_derived;
    uintptr_t new_base;
    bool base_first;    // the first pair of the frame with this base slot
    bool derived_write; // a distinct derived slot that is nobody's base slot
};

// The scratch a frame is resolved into: one per walk, on the walking thread's stack
// (kMaxRootPairsPerFrame pairs).
struct Frame {
    Pair pairs[kMaxRootPairsPerFrame];
    uint32_t count = 0;
};

// Says why a RootLoc of the current frame has no slot, through the walker (precise: ends the walk).
void report_unresolved(Walker& w, RootLoc loc) noexcept {
    const uint64_t ra = w.frame().return_address;
    if (loc.kind() == RootLoc::kRegister && w.register_in_context(loc.dwarf_reg()))
        w.report(ra,
                 "register root r%u of the frame at return address 0x%" PRIx64
                 " is saved only in the captured context copy (was the context captured by "
                 "gcwalk_safepoint_enter?)",
                 loc.dwarf_reg(), ra);
    else if (loc.kind() == RootLoc::kRegister)
        w.report(ra,
                 "register root r%u of the frame at return address 0x%" PRIx64 " has no save slot",
                 loc.dwarf_reg(), ra);
    else if (uint64_t base = 0; w.register_value(loc.dwarf_reg(), &base))
        w.report(ra,
                 "root at [r%u %+d] of the frame at return address 0x%" PRIx64 " with SP 0x%" PRIx64
                 ": r%u = 0x%" PRIx64 " puts it outside the frame (corrupt stack?)",
                 loc.dwarf_reg(), loc.offset(), ra, w.frame().sp, loc.dwarf_reg(), base);
    else
        w.report(ra,
                 "root at [r%u %+d] of the frame at return address 0x%" PRIx64
                 ": the value of r%u is unknown at a call",
                 loc.dwarf_reg(), loc.offset(), ra, loc.dwarf_reg());
}

// Resolves the walker's current frame into `f`. On entry the walker stands on a managed frame;
// on return every pair of `f` has its slots and old values, or the walker reported a problem
// (false in precise mode; in best-effort mode the pair is left out).
bool resolve_frame(Walker& w, Frame& f) noexcept {
    const auto roots = w.index().roots(*w.frame().site);
    f.count = 0;
    if (roots.size() > kMaxRootPairsPerFrame) {
        w.report(w.frame().return_address,
                 "frame at return address 0x%" PRIx64
                 " has %zu root pairs, more than the limit of %u",
                 w.frame().return_address, roots.size(), kMaxRootPairsPerFrame);
        return !w.failed();
    }
    for (const RootPair& rp : roots) {
        if (rp.base.kind() == RootLoc::kNone) continue; // a null base constant: nothing to move
        void** base = resolve_root(w, rp.base);
        if (!base) {
            report_unresolved(w, rp.base);
            if (w.failed()) return false;
            continue;
        }
        void** derived = base;
        if (rp.derived.bits != rp.base.bits && rp.derived.kind() != RootLoc::kNone) {
            derived = resolve_root(w, rp.derived);
            if (!derived) {
                report_unresolved(w, rp.derived);
                if (w.failed()) return false;
                continue;
            }
        }
        Pair& p = f.pairs[f.count++];
        p.base = base;
        p.derived = derived;
        std::memcpy(&p.old_base, base, sizeof p.old_base);
        std::memcpy(&p.old_derived, derived, sizeof p.old_derived);
        p.new_base = p.old_base;
    }
    // Each slot is acted on once: bases by their first pair; a derived slot only if it is nobody's
    // base (a base is rewritten as a base) and by its first pair.
    for (uint32_t i = 0; i < f.count; ++i) {
        Pair& p = f.pairs[i];
        p.base_first = true;
        p.derived_write = p.derived != p.base;
        for (uint32_t j = 0; j < f.count && (p.base_first || p.derived_write); ++j) {
            const Pair& q = f.pairs[j];
            if (j < i && q.base == p.base) p.base_first = false;
            if (q.base == p.derived || (j < i && q.derived == p.derived)) p.derived_write = false;
        }
    }
    return true;
}

// Distinct non-null slots of a resolved frame.
uint64_t count_roots(const Frame& f) noexcept {
    uint64_t n = 0;
    for (uint32_t i = 0; i < f.count; ++i) {
        const Pair& p = f.pairs[i];
        n += (p.base_first && p.old_base != 0) + (p.derived_write && p.old_derived != 0);
    }
    return n;
}

} // namespace

namespace detail {

void** resolve_root_or_report(Walker& walker, RootLoc loc) noexcept {
    if (loc.kind() == RootLoc::kNone) return nullptr;
    void** slot = resolve_root(walker, loc);
    if (!slot) report_unresolved(walker, loc);
    return slot;
}

uint32_t replay_frame_slots(Walker& w, uint32_t i, uint32_t* next, void*** out) noexcept {
    if (*next == 0) WalkerAccess::replay_seek(w, i);
    const std::span<const RootPair> pairs = w.index().roots(*w.frame().site);
    uint32_t k = 0, j = *next;
    for (; j < pairs.size() && k < kMaxRootPairsPerFrame; ++j) {
        if (void** slot = resolve_root_or_report(w, pairs[j].base))
            out[k++] = slot;
        else if (w.failed())
            break;
    }
    *next = j < pairs.size() && !w.failed() ? j : 0;
    return k;
}

void finish_walk(const Walker& w, WalkStats* stats, WalkError* error, uint64_t frames,
                 uint64_t roots) noexcept {
    if (stats) {
        stats->frames = frames;
        stats->roots = roots;
        stats->skipped = w.skipped();
        stats->cached = w.cached();
    }
    if (error) {
        if (w.failed() || w.skipped())
            *error = w.error();
        else
            *error = WalkError{};
    }
}

} // namespace detail

namespace {

using detail::sp_slot;
using detail::StepGuess;
using detail::WalkerAccess;

// The rest of the walk from the walk cache (see replay_roots in detail/root_walk.hpp).
template <class Plain, class General>
__attribute__((always_inline)) inline bool replay_by_frame(Walker& w, Plain& plain,
                                                           General& general, uint64_t& frames,
                                                           uint64_t& roots) noexcept {
    const uintptr_t* cached = WalkerAccess::replay_slots(w);
    for (uint32_t i = WalkerAccess::replay_slot_end(w); i-- > 0;) {
        const uintptr_t e = cached[i];
        if (e & 1u) [[unlikely]] {
            const uint32_t k = static_cast<uint32_t>(e >> 1);
            WalkerAccess::replay_seek(w, k);
            if (!general(w, roots)) {
                frames += WalkerAccess::replay_first(w) - k + 1;
                return false;
            }
        } else {
            roots += plain(reinterpret_cast<void**>(e));
        }
    }
    frames += WalkerAccess::replay_first(w) + 1;
    return true;
}

// The loop relocate_roots, visit_roots and visit_frames share: the inline rule step, and per
// frame (after begin(frame)) either the frame's plain roots, each [RSP + offset] slot handed to
// `plain` without resolution (CallSite::kPlainRoots), then done(), or the whole frame to
// `general` (out of line, from the walker's current frame). Each returns the roots it counted
// (general: false when the walk failed). With kReplay, a walk cache's replay hands `plain` the
// recorded slots (frames with other roots are recorded as "resolve again" and go to `general`);
// without, the walker steps through cached frames one at a time (for visitors that are told about
// each frame).
// PlainFrame(sp, offsets, n) -> roots takes a plain frame's n slots, SP + offsets[i], at once
// (default: each slot to `plain`).
template <bool kReplay, class Begin, class Plain, class Done, class General, class PlainFrame>
__attribute__((always_inline)) inline bool
walk_by_frame(const SafepointContext& ctx, const FrameIndex& index, const WalkOptions& options,
              WalkStats* stats, WalkError* error, Begin&& begin, Plain&& plain, Done&& done,
              General&& general, PlainFrame&& plain_frame) noexcept {
    uint64_t frames = 0, roots = 0;
    const FrameIndex::Hot ix = index.hot();
    Walker w(ctx, index, options);
    // The loop, for WalkerAccess::advance<kAllRegisters> (chosen once: ix.register_roots).
    auto loop = [&]<bool kAllRegisters>() __attribute__((always_inline)) {
        WalkFrame f = w.frame();
        uint64_t* rbp_at = WalkerAccess::rbp_at(w);
        StepGuess guess;
        for (;;) {
            if constexpr (kReplay) {
                if (WalkerAccess::replaying(w)) [[unlikely]] {
                    if (!replay_by_frame(w, plain, general, frames, roots)) break;
                    f = WalkerAccess::replay_finish(w);
                    rbp_at = WalkerAccess::rbp_at(w);
                    if (!w.valid()) break;
                }
            }
            ++frames;
            begin(f);
            if (f.site->plain_roots()) [[likely]] {
                roots +=
                    plain_frame(f.sp, ix.root_offsets + f.site->root_index(), f.site->num_roots());
                done();
            } else if (WalkerAccess::sync(w, f, rbp_at), !general(w, roots)) {
                break;
            }
            if (kReplay && WalkerAccess::recording(w)) {
                WalkerAccess::sync(w, f, rbp_at);
                if (!WalkerAccess::advance_recording(w, ix, f)) break;
                rbp_at = WalkerAccess::rbp_at(w);
            } else if (!WalkerAccess::advance<kAllRegisters>(w, ix, f, rbp_at, guess)) {
                break;
            }
        }
    };
    if (w.valid()) {
        if (ix.register_roots)
            loop.template operator()<true>();
        else
            loop.template operator()<false>();
    }
    detail::finish_walk(w, stats, error, frames, roots);
    return !w.failed();
}

template <bool kReplay, class Begin, class Plain, class Done, class General>
__attribute__((always_inline)) inline bool
walk_by_frame(const SafepointContext& ctx, const FrameIndex& index, const WalkOptions& options,
              WalkStats* stats, WalkError* error, Begin&& begin, Plain&& plain, Done&& done,
              General&& general) noexcept {
    return walk_by_frame<kReplay>(
        ctx, index, options, stats, error, begin, plain, done, general,
        [&](uint64_t sp, const int16_t* off, uint32_t count) __attribute__((always_inline)) {
            uint64_t n = 0;
#pragma GCC unroll 2
            for (uint32_t i = 0; i < count; ++i)
                n += plain(reinterpret_cast<void**>(sp + static_cast<int64_t>(off[i])));
            return n;
        });
}

// Moves the roots of the walker's current frame (any pairs): every old value read first, each
// distinct non-null base moved once, then derived slots rewritten from their base.
bool relocate_frame(Walker& w, Frame& f, MoveFn move, void* user, uint64_t& roots) noexcept {
    if (!resolve_frame(w, f)) return false;
    roots += count_roots(f);
    for (uint32_t i = 0; i < f.count; ++i) {
        Pair& p = f.pairs[i];
        if (!p.base_first || p.old_base == 0) continue;
        p.new_base = reinterpret_cast<uintptr_t>(move(reinterpret_cast<void*>(p.old_base), user));
        for (uint32_t j = i; j < f.count; ++j)
            if (f.pairs[j].base == p.base) f.pairs[j].new_base = p.new_base;
        std::memcpy(p.base, &p.new_base, sizeof p.new_base);
    }
    // Derived slots keep their offset from the base (any offset: interior, one past the end).
    for (uint32_t i = 0; i < f.count; ++i) {
        const Pair& p = f.pairs[i];
        if (!p.derived_write || p.old_base == 0) continue;
        const uintptr_t v = p.new_base + (p.old_derived - p.old_base);
        std::memcpy(p.derived, &v, sizeof v);
    }
    return !w.failed();
}

} // namespace

bool detail::relocate_frame_roots(Walker& w, MoveFn move, void* user, uint64_t& roots) noexcept {
    Frame scratch; // (pairs uninitialised: filled as the frame's roots resolve)
    return relocate_frame(w, scratch, move, user, roots);
}

bool relocate_roots(const SafepointContext& ctx, const FrameIndex& index, MoveFn move, void* user,
                    const WalkOptions& options, WalkStats* stats, WalkError* error) noexcept {
    Frame scratch;
    // One slot: its object moved unless null; false for a null slot (not a root moved).
    auto move_slot = [&](void** slot) __attribute__((always_inline)) {
        void* const v = *slot;
        if (!v) [[unlikely]]
            return false;
        *slot = move(v, user);
        return true;
    };
    return walk_by_frame<true>(
        ctx, index, options, stats, error, [](const WalkFrame&) {},
        [&](void** slot) -> uint64_t { return move_slot(slot); }, [] {},
        [&](Walker& w, uint64_t& roots) { return relocate_frame(w, scratch, move, user, roots); },
        // A plain frame: its roots counted at once, a null slot taken off.
        [&](uint64_t sp, const int16_t* off, uint32_t count) __attribute__((always_inline)) {
            uint64_t n = count;
#pragma GCC unroll 2
            for (uint32_t i = 0; i < count; ++i)
                if (!move_slot(reinterpret_cast<void**>(sp + int64_t{off[i]}))) --n;
            return n;
        });
}

bool visit_roots(const SafepointContext& ctx, const FrameIndex& index, RootVisitor& visitor,
                 const WalkOptions& options, WalkStats* stats, WalkError* error) noexcept {
    Frame scratch;
    return walk_by_frame<false>(
        ctx, index, options, stats, error,
        [&](const WalkFrame& f) { visitor.frame(f.return_address, f.sp); },
        [&](void** slot) -> uint64_t {
            if (!*slot) return 0;
            visitor.root(slot);
            return 1;
        },
        [] {},
        [&](Walker& w, uint64_t& roots) {
            Frame& f = scratch;
            if (!resolve_frame(w, f)) return false;
            roots += count_roots(f);
            for (uint32_t i = 0; i < f.count; ++i)
                if (f.pairs[i].base_first && f.pairs[i].old_base != 0)
                    visitor.root(f.pairs[i].base);
            for (uint32_t i = 0; i < f.count; ++i)
                if (f.pairs[i].derived_write && f.pairs[i].old_derived != 0)
                    visitor.derived(f.pairs[i].base, f.pairs[i].derived);
            return true;
        });
}

namespace {

template <class Deliver>
bool visit_frames_with(const SafepointContext& ctx, const FrameIndex& index,
                       const WalkOptions& options, WalkStats* stats, WalkError* error,
                       Deliver&& deliver) noexcept {
    // One batch per walk, on this stack: filled as the frame's pairs are read (plain frames) or
    // resolved (the others), handed over when the frame is done.
    struct Batch {
        FrameRoots frame;
        void** slots[kMaxRootPairsPerFrame];
        DerivedSlot derived[kMaxRootPairsPerFrame];
        Frame resolved;
    } b;
    b.frame.slots = b.slots;
    b.frame.derived = b.derived;
    return walk_by_frame<false>(
        ctx, index, options, stats, error,
        [&](const WalkFrame& f) {
            b.frame.return_address = f.return_address;
            b.frame.sp = f.sp;
            b.frame.num_slots = 0;
            b.frame.num_derived = 0;
        },
        [&](void** slot) -> uint64_t {
            if (b.frame.num_slots == kMaxRootPairsPerFrame) [[unlikely]] { // a huge frame: in parts
                deliver(b.frame);
                b.frame.num_slots = 0;
            }
            b.slots[b.frame.num_slots++] = slot;
            return 1;
        },
        [&] {
            if (b.frame.num_slots != 0) deliver(b.frame);
        },
        [&](Walker& w, uint64_t& roots) {
            Frame& f = b.resolved;
            if (!resolve_frame(w, f)) return false;
            for (uint32_t i = 0; i < f.count; ++i) {
                const Pair& p = f.pairs[i];
                if (p.base_first) b.slots[b.frame.num_slots++] = p.base;
                if (p.derived_write) b.derived[b.frame.num_derived++] = {p.base, p.derived};
            }
            roots += b.frame.num_slots + b.frame.num_derived;
            if (b.frame.num_slots + b.frame.num_derived != 0) deliver(b.frame);
            return true;
        },
        // A plain frame's slots in one pass (at most kMaxRootPairsPerFrame: kPlainRoots).
        [&](uint64_t sp, const int16_t* off, uint32_t n) __attribute__((always_inline)) {
            void*** const out = b.slots;
            for (uint32_t i = 0; i < n; ++i)
                out[i] = reinterpret_cast<void**>(sp + static_cast<int64_t>(off[i]));
            b.frame.num_slots = n;
            return uint64_t{n};
        });
}

} // namespace

bool visit_frames(const SafepointContext& ctx, const FrameIndex& index, FrameRootsFn fn, void* user,
                  const WalkOptions& options, WalkStats* stats, WalkError* error) noexcept {
    return visit_frames_with(ctx, index, options, stats, error,
                             [&](const FrameRoots& f) { fn(f, user); });
}

namespace detail {

// gcwalk_visit_frames (gc/c_api.cpp): the same loop, the C callback called directly.
bool visit_frames_c(const SafepointContext& ctx, const FrameIndex& index, gcwalk_frame_fn fn,
                    void* user, const WalkOptions& options, WalkStats* stats,
                    WalkError* error) noexcept {
    static_assert(sizeof(FrameRoots) == sizeof(gcwalk_frame_roots) &&
                  offsetof(FrameRoots, return_address) ==
                      offsetof(gcwalk_frame_roots, return_address) &&
                  offsetof(FrameRoots, sp) == offsetof(gcwalk_frame_roots, sp) &&
                  offsetof(FrameRoots, slots) == offsetof(gcwalk_frame_roots, slots) &&
                  offsetof(FrameRoots, derived) == offsetof(gcwalk_frame_roots, derived) &&
                  offsetof(FrameRoots, num_slots) == offsetof(gcwalk_frame_roots, num_slots) &&
                  offsetof(FrameRoots, num_derived) == offsetof(gcwalk_frame_roots, num_derived) &&
                  sizeof(DerivedSlot) == sizeof(gcwalk_derived_slot));
    return visit_frames_with(ctx, index, options, stats, error, [&](const FrameRoots& f) {
        fn(reinterpret_cast<const gcwalk_frame_roots*>(&f), user);
    });
}

} // namespace detail

} // namespace gcwalk
