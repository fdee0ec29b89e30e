// INTERNAL to gcwalk (roots layer): not part of the public API, may change at any time.
//
// for_each_root's loops, inline so that the visitor and the walker's step are inlined into one
// loop (the measured hot path, docs/PERFORMANCE.md), and their cold parts (gc/roots.cpp).
// Included by <gcwalk/roots.hpp>, after the declarations it uses: include that one instead.
#pragma once

#include <gcwalk/frame_index.hpp>
#include <gcwalk/walker.hpp>

#include <cstdint>
#include <span>

namespace gcwalk::detail {

// The slot of a root that is not [RSP + offset], reporting through the walker when it has none
// (nullptr without a report for kNone: a null constant).
void** resolve_root_or_report(Walker& walker, RootLoc loc) noexcept;
// The results of a walk into stats and error (either may be null).
void finish_walk(const Walker& walker, WalkStats* stats, WalkError* error, uint64_t frames,
                 uint64_t roots) noexcept;
// The replay of cached frame i, which has a root that is not a plain [RSP + offset] one: its base
// slots as for_each_root visits them (those that resolve), from pair *next on, up to
// kMaxRootPairsPerFrame of them written to out; *next is then the pair to go on from, or 0 when
// the frame is done. On a precise-mode error the walker has failed.
uint32_t replay_frame_slots(Walker& walker, uint32_t i, uint32_t* next, void*** out) noexcept;

// Relocates the roots of the walker's current frame, any pairs (as relocate_roots does with a
// MoveFn: every old value read first, each distinct non-null base moved once, derived slots
// rewritten from their base); counts the distinct non-null slots into roots. False when the walk
// failed (precise mode).
bool relocate_frame_roots(Walker& walker, MoveFn move, void* user, uint64_t& roots) noexcept;

// The slot of an [RSP + offset] root of the frame at sp.
__attribute__((always_inline)) inline void** sp_slot(uint64_t sp, RootLoc loc) noexcept {
    return reinterpret_cast<void**>(sp + static_cast<int64_t>(loc.offset()));
}

// The roots of a frame that is not CallSite::kPlainRoots, for walk_frames: [RSP + offset] slots
// inline, the others resolved (the walker's copies of f and rbp_at brought up to date first).
template <class Visit>
__attribute__((always_inline)) inline void
visit_frame_roots(Walker& w, const WalkFrame& f, uint64_t* rbp_at, std::span<const RootPair> pairs,
                  Visit& visit, uint64_t& roots) noexcept {
#pragma GCC unroll 2
    for (const RootPair& p : pairs) {
        void** slot;
        if (p.base.is_sp_slot()) [[likely]] {
            slot = sp_slot(f.sp, p.base);
        } else if (WalkerAccess::sync(w, f, rbp_at), !(slot = resolve_root_or_report(w, p.base))) {
            if (w.failed()) { // precise: the walk is over (the step below is false)
                roots -= static_cast<uint64_t>(pairs.data() + pairs.size() - &p);
                break;
            }
            --roots;
            continue;
        }
        visit(slot);
    }
}

// The frames the walk steps, from f, the walker's current frame: each frame's base slots visited,
// then the step (with kRecord, appending each frame to the walk's WalkCache). With kRecord, a
// frame the cache holds ends the loop with true (the walker is replaying; f is that frame).
// Otherwise the walk is over (false).

// The base slots of a CallSite::kPlainRoots frame at sp (its roots' offsets at off), visited: four
// at a time, then two, then one (a frame's few roots cost a test or two, not a loop's setup).
template <class Visit>
__attribute__((always_inline)) inline void visit_plain_roots(uint64_t sp, const int16_t* off,
                                                             uint32_t n, Visit& visit) noexcept {
    auto at = [sp](int16_t o) { return reinterpret_cast<void**>(sp + static_cast<int64_t>(o)); };
    for (; n >= 4; n -= 4, off += 4) {
        visit(at(off[0]));
        visit(at(off[1]));
        visit(at(off[2]));
        visit(at(off[3]));
    }
    if (n & 2u) {
        visit(at(off[0]));
        visit(at(off[1]));
        off += 2;
    }
    if (n & 1u) visit(at(off[0]));
}

template <bool kRecord, bool kAllRegisters, class Visit>
__attribute__((always_inline)) inline bool
walk_frames_with(Walker& w, const FrameIndex::Hot& ix, WalkFrame& f, Visit& visit, uint64_t& frames,
                 uint64_t& roots) noexcept {
    uint64_t* rbp_at = WalkerAccess::rbp_at(w); // (advance(): kept in a register)
    StepGuess guess;                            // (and the step's guess)
    for (;;) {
        if constexpr (kRecord) {
            if (WalkerAccess::replaying(w)) [[unlikely]]
                return true;
        }
        ++frames;
        const CallSite& site = *f.site;
        const uint32_t n = site.num_roots();
        roots += n;                          // less the ones passed over below
        if (site.plain_roots()) [[likely]] { // every base an [RSP + offset] slot: no test each
            if (n != 0) visit_plain_roots(f.sp, ix.root_offsets + site.root_index(), n, visit);
        } else {
            visit_frame_roots(w, f, rbp_at, ix.roots(site), visit, roots);
        }
        if constexpr (kRecord) {
            if (!WalkerAccess::advance_recording(w, ix, f)) return false;
            rbp_at = WalkerAccess::rbp_at(w);
        } else {
            if (!WalkerAccess::advance<kAllRegisters>(w, ix, f, rbp_at, guess)) return false;
        }
    }
}

// The frames the walk steps (above), the loop chosen once for the index's register_roots.
template <bool kRecord, class Visit>
__attribute__((always_inline)) inline bool walk_frames(Walker& w, const FrameIndex::Hot& ix,
                                                       WalkFrame& f, Visit& visit, uint64_t& frames,
                                                       uint64_t& roots) noexcept {
    if (kRecord || ix.register_roots)
        return walk_frames_with<kRecord, true>(w, ix, f, visit, frames, roots);
    return walk_frames_with<kRecord, false>(w, ix, f, visit, frames, roots);
}

// relocate_roots' loop with the move inlined (roots.hpp): a CallSite::kPlainRoots frame's slots
// moved in place, in any order (its bases are distinct: nothing to read first), the other frames
// through relocate_frame_roots with `move` behind a trampoline.
template <bool kAllRegisters, class Move>
__attribute__((always_inline)) inline void relocate_frames(Walker& w, const FrameIndex::Hot& ix,
                                                           Move& move, uint64_t& frames,
                                                           uint64_t& roots) noexcept {
    const MoveFn trampoline = [](void* old_base, void* user) -> void* {
        return (*static_cast<Move*>(user))(old_base);
    };
    WalkFrame f = w.frame();
    uint64_t* rbp_at = WalkerAccess::rbp_at(w);
    StepGuess guess;
    for (;;) {
        ++frames;
        const CallSite& site = *f.site;
        if (site.plain_roots()) [[likely]] {
            // Each slot read, its object moved if non-null and the slot written back. The frame's
            // roots are counted at once, a null slot (rare) taken off: no increment per root.
            auto move_slot = [&](void** slot) __attribute__((always_inline)) {
                if (void* v = *slot) [[likely]]
                    *slot = move(v);
                else
                    --roots;
            };
            if (const uint32_t n = site.num_roots(); n != 0) {
                roots += n;
                visit_plain_roots(f.sp, ix.root_offsets + site.root_index(), n, move_slot);
            }
        } else {
            WalkerAccess::sync(w, f, rbp_at);
            // (A count of its own: `roots` itself, passed out of line, would live in memory, and
            // every plain root's increment would wait on the one before.)
            uint64_t general = 0;
            const bool ok = relocate_frame_roots(w, trampoline, &move, general);
            roots += general;
            if (!ok) return;
        }
        if (!WalkerAccess::advance<kAllRegisters>(w, ix, f, rbp_at, guess)) return;
    }
}

// One entry of the walk cache's slots: a base slot, or (odd) a frame whose roots are resolved
// again. False when the walk failed there: the slots before the failing root are visited, as an
// uncached walk visits them, and frames counts the frames replayed, the failing one included.
template <class Visit>
__attribute__((always_inline)) inline bool
replay_entry(Walker& w, uintptr_t e, Visit& visit, uint64_t& frames, uint64_t& roots) noexcept {
    if (e & 1u) [[unlikely]] { // a frame with a root that is not [RSP + offset]
        void** batch[kMaxRootPairsPerFrame];
        const uint32_t k = static_cast<uint32_t>(e >> 1);
        uint32_t next = 0;
        do {
            const uint32_t m = replay_frame_slots(w, k, &next, batch);
            for (uint32_t j = 0; j < m; ++j) visit(batch[j]);
            roots += m;
            if (w.failed()) [[unlikely]] {
                frames += WalkerAccess::replay_first(w) - k + 1;
                return false;
            }
        } while (next != 0);
    } else {
        visit(reinterpret_cast<void**>(e));
        ++roots;
    }
    return true;
}

// The rest of the walk from the WalkCache, while the walker is replaying: the recorded slots,
// visited without stepping. Frames are stored outermost first, each one's slots reversed: read
// backwards, the slots come innermost frame first, each frame's in order. False when the walk
// failed (a root of a frame resolved on replay has no slot, in precise mode).
template <class Visit>
__attribute__((always_inline)) inline bool replay_roots(Walker& w, Visit& visit, uint64_t& frames,
                                                        uint64_t& roots) noexcept {
    const uintptr_t* cached = WalkerAccess::replay_slots(w);
    uint32_t i = WalkerAccess::replay_slot_end(w);
    // Four slots per test while none of them is a frame to resolve: one branch per four roots,
    // so the loop's speed does not hang on where the compiler happened to place it.
    while (i >= 4) {
        const uintptr_t e0 = cached[i - 1], e1 = cached[i - 2], e2 = cached[i - 3],
                        e3 = cached[i - 4];
        if (((e0 | e1 | e2 | e3) & 1u) == 0) [[likely]] {
            visit(reinterpret_cast<void**>(e0));
            visit(reinterpret_cast<void**>(e1));
            visit(reinterpret_cast<void**>(e2));
            visit(reinterpret_cast<void**>(e3));
            roots += 4;
            i -= 4;
            continue;
        }
        if (!replay_entry(w, e0, visit, frames, roots)) return false;
        --i;
    }
    while (i-- > 0)
        if (!replay_entry(w, cached[i], visit, frames, roots)) return false;
    frames += WalkerAccess::replay_first(w) + 1;
    return true;
}

} // namespace gcwalk::detail
