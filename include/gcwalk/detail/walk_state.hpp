// INTERNAL to gcwalk (walking layer): not part of the public API, may change at any time.
//
// The state the inline per-frame step reads and writes (Walker::next(), for_each_root's loops):
// the register map, the flags that choose the step and the cache arrays a recording or replaying
// loop touches.
// It is here, and not behind the walker's opaque storage, because the step is the measured hot
// path (docs/PERFORMANCE.md): inlined into the caller's loop, it reaches every field at a fixed
// offset from the walker, with no pointer to load first. Everything else the walker keeps (the
// libunwind cursor, the synthesised context, the walk cache's bookkeeping, the error) lives in
// unwind/walker_impl.hpp. The step itself, which needs the Walker, is in detail/walk_step.hpp.
#pragma once

#include <gcwalk/frame_index.hpp>
#include <gcwalk/frame_rule.hpp>

#include <cstdint>
#include <cstring>

namespace gcwalk::detail {

inline constexpr unsigned kNumCalleeSaved = sizeof kCalleeSaved / sizeof kCalleeSaved[0];

// The standard frame-pointer frame: CFA = RBP + 16, the caller's RBP saved at CFA - 16.
inline constexpr int32_t kFpCfaOffset = 16;
inline constexpr int16_t kFpSavedRbp = -16;
// The return address of a frame sits just below its CFA.
inline constexpr uint64_t kReturnAddressBelowCfa = 8;

// Where each callee-saved register of the current frame lives (HotSpot's RegisterMap): carried
// from frame to frame, each frame's rule moving the registers it saved into its own slots.
// where[i] is kCalleeSaved[i]'s save location (null when unknown); bit i of in_context says that
// location is the captured context copy (readable; a write there would be lost).
struct RegisterMap {
    uint64_t* where[kNumCalleeSaved] = {};
    uint8_t in_context = 0;
};

// A frame as the walk cache keeps it.
struct CacheFrame {
    uint64_t sp;
    const CallSite* site;
};

// The walker's hot state (besides the current WalkFrame). The walk cache's arrays a recording or
// replaying walk touches in the inline loop are copied here when the recording or the replay
// starts, so that the loop does not go through the cache object.
struct WalkState {
    const FrameIndex* index = nullptr;
    uint64_t stop_sp = 0;  // WalkOptions::stop_sp
    uint64_t sp_limit = 0; // stop_sp, or UINT64_MAX without one: the inline step's one compare
    RegisterMap regs;
    bool valid = false;
    bool failed = false;
    bool by_rule = false;   // fast walker, valid, and the current frame is stepped by its rule
    bool on_cursor = false; // fast walker: the current frame is the cursor's (stepped by libunwind)
    bool recording = false; // appending the frames stepped to the walk cache
    bool replaying = false; // handing out the walk cache's frames
    uint64_t skipped = 0;   // Walker::skipped(), cached(): read by every walk's end
    uint64_t cached = 0;
    // Recording: fresh[0, rec_n) are this walk's frames, innermost first (rec_capacity at most);
    // cache_frames[next_cached] is the cache frame a fresh frame may meet next (-1: none),
    // found by following the cache frames by SP.
    CacheFrame* fresh = nullptr;
    const CacheFrame* cache_frames = nullptr;
    uint32_t rec_n = 0, rec_capacity = 0;
    int32_t next_cached = -1;
    // Replaying: cache frames replay_first .. 0 come from the cache, with their base slots at
    // replay_slots[0, replay_slot_end) (see for_each_root).
    uint32_t replay_first = 0;
    uint32_t replay_slot_end = 0;
    const uintptr_t* replay_slots = nullptr;
};

// What appending a frame to a recording asks of the walker's out-of-line part.
enum class Appended : uint8_t { kDone, kFull, kJunction };

// Appends frame (sp, site) to the recording and follows the cache frames by SP.
__attribute__((always_inline)) inline Appended append_frame(WalkState& s, uint64_t sp,
                                                            const CallSite* site) noexcept {
    if (s.rec_n >= s.rec_capacity) [[unlikely]]
        return Appended::kFull;
    s.fresh[s.rec_n++] = {sp, site};
    while (s.next_cached >= 0 && s.cache_frames[s.next_cached].sp < sp) --s.next_cached;
    if (s.next_cached >= 0 && s.cache_frames[s.next_cached].sp == sp) [[unlikely]]
        return Appended::kJunction;
    return Appended::kDone;
}

} // namespace gcwalk::detail
