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
#include <type_traits>

namespace gcwalk {

// A frame's roots are resolved into fixed-size scratch arrays: a frame with more (base, derived)
// pairs than kMaxRootPairsPerFrame (<gcwalk/frame_index.hpp>) is an error ("... root pairs, more
// than the limit of 512"), never a partial move.

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
    virtual void frame(uint64_t return_address, uint64_t sp) {
        (void)return_address;
        (void)sp;
    }
    virtual ~RootVisitor() = default;
};

bool visit_roots(const SafepointContext& ctx, const FrameIndex& index, RootVisitor& visitor,
                 const WalkOptions& options, WalkStats* stats, WalkError* error) noexcept;

// One managed frame's roots as visit_frames hands them over: the distinct base slots of its pairs
// (gc allocas included; a slot may hold null), and each derived slot that is nobody's base with
// its base's slot. To relocate, read every old value of the frame first, move each non-null base
// once, then set each derived slot to new base + (old derived - old base). The arrays live until
// the callback returns.
struct DerivedSlot {
    void** base;
    void** derived;
};
struct FrameRoots {
    uint64_t return_address;
    uint64_t sp;
    void** const* slots;
    const DerivedSlot* derived;
    uint32_t num_slots;
    uint32_t num_derived;
};
using FrameRootsFn = void (*)(const FrameRoots& frame, void* user);

// One call per managed frame that has roots, with them as arrays (frames without a root slot are
// walked and counted in stats->frames, not handed over). stats->roots counts the slots handed over
// (base and derived, null or not). Errors as relocate_roots.
bool visit_frames(const SafepointContext& ctx, const FrameIndex& index, FrameRootsFn fn, void* user,
                  const WalkOptions& options, WalkStats* stats, WalkError* error) noexcept;

// The slot of one RootLoc in the walker's current frame, or nullptr (kNone, or a register whose
// save location is the context copy, or a base register whose value is unknown).
void** resolve_root(const Walker& walker, RootLoc loc) noexcept;

} // namespace gcwalk

// for_each_root's loops (internal), after the declarations they use.
#include <gcwalk/detail/root_walk.hpp>

namespace gcwalk {

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
__attribute__((always_inline)) inline bool
for_each_root(const SafepointContext& ctx, const FrameIndex& index, Visit&& visit,
              const WalkOptions& options, WalkStats* stats, WalkError* error) noexcept {
    using detail::WalkerAccess;
    uint64_t frames = 0, roots = 0;
    const FrameIndex::Hot ix = index.hot();
    Walker w(ctx, index, options);
    if (w.valid()) {
        WalkFrame f = w.frame();
        for (;;) {
            if (WalkerAccess::replaying(w)) [[unlikely]] {
                // The rest of the walk is the WalkCache's: its recorded slots, without stepping.
                if (!detail::replay_roots(w, visit, frames, roots)) break;
                f = WalkerAccess::replay_finish(w);
                if (!w.valid()) break;
            }
            if (WalkerAccess::recording(w)) [[unlikely]] {
                if (!detail::walk_frames<true>(w, ix, f, visit, frames, roots)) break;
            } else {
                detail::walk_frames<false>(w, ix, f, visit, frames, roots);
                break;
            }
        }
    }
    detail::finish_walk(w, stats, error, frames, roots);
    return !w.failed();
}

// Hot, for moving: relocate_roots with the move inlined. move(void* old_base) -> void* new_base is
// called as MoveFn is (once per distinct non-null base slot of a frame), and the derived slots are
// rewritten the same way; frames whose roots are all distinct [RSP + offset] slots
// (CallSite::kPlainRoots) are relocated in the loop itself, each slot read and written once. With
// options.cache set, the walk is relocate_roots' own (the cache replayed; move behind one call per
// root). Errors and stats as relocate_roots. Does not allocate, throw or lock (as long as move
// does not).
//
//   gcwalk::relocate_roots(*ctx, index, [&](void* old) { return heap.forward(old); }, {},
//                          &stats, &error);
template <class Move>
__attribute__((always_inline)) inline bool
relocate_roots(const SafepointContext& ctx, const FrameIndex& index, Move&& move,
               const WalkOptions& options, WalkStats* stats, WalkError* error) noexcept {
    using M = std::remove_reference_t<Move>;
    if (options.cache) {
        const MoveFn trampoline = [](void* old_base, void* user) -> void* {
            return (*static_cast<M*>(user))(old_base);
        };
        return relocate_roots(ctx, index, trampoline,
                              const_cast<void*>(static_cast<const void*>(&move)), options, stats,
                              error);
    }
    uint64_t frames = 0, roots = 0;
    const FrameIndex::Hot ix = index.hot();
    Walker w(ctx, index, options);
    if (w.valid()) {
        if (ix.register_roots)
            detail::relocate_frames<true>(w, ix, move, frames, roots);
        else
            detail::relocate_frames<false>(w, ix, move, frames, roots);
    }
    detail::finish_walk(w, stats, error, frames, roots);
    return !w.failed();
}

} // namespace gcwalk
