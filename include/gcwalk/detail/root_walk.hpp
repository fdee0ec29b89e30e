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
// The replay of cached frame i with a root that is not [RSP + offset]: its base slots as
// for_each_root visits them (those that resolve), written to out; on a precise-mode error the
// walker has failed.
uint32_t replay_frame_slots(Walker& walker, uint32_t i, void*** out) noexcept;

// The frames the walk steps, from f, the walker's current frame: each frame's base slots visited,
// then the step (with kRecord, appending each frame to the walk's WalkCache). With kRecord, a
// frame the cache holds ends the loop with true (the walker is replaying; f is that frame).
// Otherwise the walk is over (false).
template <bool kRecord, class Visit>
__attribute__((always_inline)) inline bool walk_frames(Walker& w, const FrameIndex::Hot& ix,
                                                       WalkFrame& f, Visit& visit, uint64_t& frames,
                                                       uint64_t& roots) noexcept {
    for (;;) {
        if constexpr (kRecord) {
            if (WalkerAccess::replaying(w)) [[unlikely]]
                return true;
        }
        ++frames;
        const std::span<const RootPair> pairs = ix.roots(*f.site);
        roots += pairs.size(); // less the ones passed over below
#pragma GCC unroll 2
        for (const RootPair& p : pairs) {
            void** slot;
            if (p.base.is_sp_slot()) [[likely]] {
                slot = reinterpret_cast<void**>(f.sp + static_cast<int64_t>(p.base.offset()));
            } else if (!(slot = resolve_root_or_report(w, p.base))) {
                --roots;
                if (w.failed()) break; // precise: the walk is over (the step below is false)
                continue;
            }
            visit(slot);
        }
        if constexpr (kRecord) {
            if (!WalkerAccess::advance_recording(w, ix, f)) return false;
        } else {
            if (!WalkerAccess::advance(w, ix, f)) return false;
        }
    }
}

// The rest of the walk from the WalkCache, while the walker is replaying: the recorded slots,
// visited without stepping. Frames are stored outermost first, each one's slots reversed: read
// backwards, the slots come innermost frame first, each frame's in order. False when the walk
// failed (a root of a frame resolved on replay has no slot, in precise mode).
template <class Visit>
__attribute__((always_inline)) inline bool replay_roots(Walker& w, Visit& visit, uint64_t& frames,
                                                        uint64_t& roots) noexcept {
    const uintptr_t* cached = WalkerAccess::replay_slots(w);
    for (uint32_t i = WalkerAccess::replay_slot_end(w); i-- > 0;) {
        const uintptr_t e = cached[i];
        if (e & 1u) [[unlikely]] { // a frame with a root that is not [RSP + offset]
            void** batch[kMaxRootPairsPerFrame];
            const uint32_t m = replay_frame_slots(w, static_cast<uint32_t>(e >> 1), batch);
            if (w.failed()) return false;
            for (uint32_t j = 0; j < m; ++j) visit(batch[j]);
            roots += m;
        } else {
            visit(reinterpret_cast<void**>(e));
            ++roots;
        }
    }
    frames += WalkerAccess::replay_first(w) + 1;
    return true;
}

} // namespace gcwalk::detail
