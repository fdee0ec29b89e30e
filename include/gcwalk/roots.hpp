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

} // namespace gcwalk
