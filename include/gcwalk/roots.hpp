// Root visiting and relocation at a safepoint: resolves every root of every managed frame of a
// stopped thread to a slot (an address that can be read and written) and moves or reports it.
//
//   void* move(void* old_base, void* heap) { return static_cast<Heap*>(heap)->copy(old_base); }
//   void at_safepoint(gcwalk::SafepointContext* ctx, void* heap) {
//       gcwalk::WalkStats stats; gcwalk::WalkError error;
//       if (!gcwalk::relocate_roots(*ctx, registry.index(), move, heap, {}, &stats, &error))
//           fatal(error.message);
//   }
#pragma once

#include <gcwalk/frame_index.hpp>
#include <gcwalk/safepoint.hpp>
#include <gcwalk/walker.hpp>

#include <cstdint>

namespace gcwalk {

// A frame's roots are resolved into fixed-size scratch arrays: a frame with more (base, derived)
// pairs than this is an error ("... root pairs, more than the limit of 512"), never a partial move.
inline constexpr uint32_t kMaxRootPairsPerFrame = 512;

// Moves one object (non-null old base, the address of its first field); returns the new address.
// Called at most once per distinct base slot per frame; the collector forwards already-moved
// objects itself (two slots may hold the same object).
using MoveFn = void* (*)(void* old_base, void* user);

// Walks the stack captured in ctx, relocating every root of every managed frame: reads all old
// values of a frame first, moves each distinct non-null base once, then rewrites derived slots as
// new base + (old derived - old base). Register roots are rewritten in their save slots (the stub's
// pushes for the frames nearest it), so the thread sees them when it leaves the stub.
// Returns false (and fills *error) on a precise-mode error: a return address inside a managed
// function without a record, a register root whose save slot lies in the captured context copy,
// a frame over kMaxRootPairsPerFrame, an unwind failure. Frames before the failing one have
// already been relocated. stats and error may be null.
bool relocate_roots(const SafepointContext& ctx, const FrameIndex& index, MoveFn move, void* user,
                    const WalkOptions& options, WalkStats* stats, WalkError* error) noexcept;

// Read-only visit (no moving): one call per distinct non-null slot of each frame, derived slots
// with their base slot; frame() first for each managed frame.
struct RootVisitor {
    virtual void root(void** slot) = 0;
    virtual void derived(void** base_slot, void** derived_slot) = 0;
    virtual void frame(uint64_t return_address, uint64_t sp) { (void)return_address; (void)sp; }
    virtual ~RootVisitor() = default;
};

bool visit_roots(const SafepointContext& ctx, const FrameIndex& index, RootVisitor& visitor,
                 const WalkOptions& options, WalkStats* stats, WalkError* error) noexcept;

// The slot of one RootLoc in the walker's current frame, or nullptr (kNone, or a register whose
// save location is the context copy, or a base register whose value is unknown).
void** resolve_root(const Walker& walker, RootLoc loc) noexcept;

namespace detail {
// for_each_root's cold parts: the slot of a root that is not [RSP + offset], reporting through the
// walker when it has none (nullptr without a report for kNone: a null constant); the results.
void** resolve_root_or_report(Walker& walker, RootLoc loc) noexcept;
void finish_walk(const Walker& walker, WalkStats* stats, WalkError* error, uint64_t frames,
                 uint64_t roots) noexcept;
// for_each_root's replay of cached frame i with a root that is not [RSP + offset]: its base
// slots as for_each_root visits them (those that resolve), written to out; on a precise-mode
// error the walker has failed.
uint32_t replay_frame_slots(Walker& walker, uint32_t i, void*** out) noexcept;
// for_each_root's loop over the frames it steps (with kRecord, appending each to the walk's
// WalkCache): f is the walker's current frame.
// With kRecord, a frame the cache holds ends the loop with true (the walker is replaying()); f is
// then that frame. Otherwise the walk is over (false).
template <bool kRecord, class Visit>
__attribute__((always_inline)) inline bool walk_frames(Walker& w, const FrameIndex::Hot& ix, WalkFrame& f,
                                                       Visit& visit, uint64_t& frames, uint64_t& roots) noexcept {
    for (;;) {
        if constexpr (kRecord) {
            if (w.replaying()) [[unlikely]] return true;
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
                if (w.failed()) break; // precise: the walk is over (advance() is false)
                continue;
            }
            visit(slot);
        }
        if constexpr (kRecord) {
            if (!w.advance_recording(ix, f)) return false;
        } else {
            if (!w.advance(ix, f)) return false;
        }
    }
}
} // namespace detail

// Hot, for marking: calls visit(void** slot) for the base slot of every root pair of every managed
// frame (gc allocas included), the visitor inlined. A slot is visited once per pair that names it
// as base (several derived pointers may share one), so visiting must be idempotent, as marking
// is; derived slots are not visited (their object is their base's); the slot may hold null.
// stats->roots counts visits. Errors as relocate_roots. Does not allocate, throw or lock (as long
// as visit does not).
//
//   gcwalk::for_each_root(*ctx, index, [&](void** slot) { if (*slot) heap.mark(*slot); }, {},
//                         &stats, &error);
template <class Visit>
__attribute__((always_inline)) inline bool for_each_root(const SafepointContext& ctx, const FrameIndex& index, Visit&& visit,
                   const WalkOptions& options, WalkStats* stats, WalkError* error) noexcept {
    uint64_t frames = 0, roots = 0;
    const FrameIndex::Hot ix = index.hot();
    Walker w(ctx, index, options);
    if (w.valid()) {
        WalkFrame f = w.frame();
        for (;;) {
            if (w.replaying()) [[unlikely]] {
                // The rest of the walk is the WalkCache's: its recorded slots, without stepping.
                // Frames are stored outermost first, each one's slots reversed: read backwards,
                // the slots come innermost frame first, each frame's in order.
                const uintptr_t* cached = w.replay_slots();
                for (uint32_t i = w.replay_slot_index()[w.replay_first() + 1]; i-- > 0;) {
                    const uintptr_t e = cached[i];
                    if (e & 1u) [[unlikely]] { // a frame with a root that is not [RSP + offset]
                        void** batch[kMaxRootPairsPerFrame];
                        const uint32_t m = detail::replay_frame_slots(w, static_cast<uint32_t>(e >> 1), batch);
                        if (w.failed()) goto done;
                        for (uint32_t j = 0; j < m; ++j) visit(batch[j]);
                        roots += m;
                    } else {
                        visit(reinterpret_cast<void**>(e));
                        ++roots;
                    }
                }
                frames += w.replay_first() + 1;
                f = w.replay_finish();
                if (!w.valid()) break;
            }
            if (w.recording()) [[unlikely]] {
                if (!detail::walk_frames<true>(w, ix, f, visit, frames, roots)) break;
            } else {
                detail::walk_frames<false>(w, ix, f, visit, frames, roots);
                break;
            }
        }
    }
done:
    detail::finish_walk(w, stats, error, frames, roots);
    return !w.failed();
}

} // namespace gcwalk
