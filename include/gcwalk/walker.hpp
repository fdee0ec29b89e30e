// The frame walker: steps from a SafepointContext through every frame of the stack and stops at
// each managed frame that has a stack map record, telling where that frame's SP is and where each
// of its callee-saved registers lives now.
#pragma once

#include <gcwalk/detail/walk_state.hpp>
#include <gcwalk/frame_index.hpp>
#include <gcwalk/safepoint.hpp>

#include <cstddef>
#include <cstdint>

namespace gcwalk {

class WalkCache;
namespace detail {
class WalkerImpl;    // unwind/walker_impl.hpp
struct WalkerAccess; // <gcwalk/detail/walk_step.hpp>
} // namespace detail

enum class WalkerKind : uint8_t {
    Libunwind, // unw_step through every frame (DWARF CFI)
    Fast,      // managed and native frames stepped by CFI-derived FrameRules (no libunwind, no
               // syscall); frames without an exact rule are handed to libunwind
};

struct WalkOptions {
    WalkerKind walker = WalkerKind::Libunwind;
    // Precise: a return address inside a managed function without a record, a register root saved
    // only in the context copy, or an unwind failure ends the walk with an error. Best-effort:
    // such frames are counted in WalkStats::skipped, the last message is kept, and the walk goes
    // on.
    bool precise = true;
    // When non-zero, the walk ends at the first frame whose SP is above this: the SP of the
    // thread's outermost managed frame (recorded where the thread entered managed code), so the
    // native frames below it (thread start, main) are not stepped. 0 walks to the end of the stack.
    uint64_t stop_sp = 0;
    // Fast walker only (ignored by the libunwind walker): the thread's WalkCache. The walk takes
    // from it the frames that did not change since the thread's last walk, and records the
    // others into it. One cache per thread; see WalkCache.
    WalkCache* cache = nullptr;
};

struct WalkStats {
    uint64_t frames = 0;  // frames with a record
    uint64_t roots = 0;   // distinct non-null slots (bases and derived)
    uint64_t skipped = 0; // best-effort only: frames or roots passed over because of an error
    uint64_t cached = 0;  // frames taken from WalkOptions::cache (re-checked, not stepped)
};

// Filled on failure (and, in best-effort mode, with the last problem passed over); no allocation.
struct WalkError {
    uint64_t address = 0; // the return address of the frame concerned (0 if none)
    char message[256] = {};
};

// One managed frame, as the walker stands on it.
struct WalkFrame {
    uint64_t return_address = 0; // IP of the frame = the return address into it = the stack map key
    uint64_t sp = 0;             // RSP at the call: what Indirect [RSP + off] is relative to
    const CallSite* site = nullptr;
    uint32_t depth = 0; // frames stepped since the stub (the stub's own frame is 0)
};

// The value of a Location in the current frame (Walker::resolve()).
struct ResolvedLocation {
    uint64_t value = 0;   // the value (Register, Indirect: read, zero-extended from `size` bytes;
                          // Direct: the address; Constant/ConstantIndex: the constant)
    void* slot = nullptr; // where the value lives (Register: its save slot; Indirect: the stack
                          // address), nullptr for Direct and constants
};

// The managed frames of a thread's last walk, so that the next fast walk re-checks the frames
// that did not change instead of stepping them: the whole stack of a thread parked since its last
// walk, and the unchanged outer part of the stack of a thread that ran (below its changed top).
// Create one per thread, where the thread attaches (the constructor allocates; walks never do):
//
//   thread->cache = new gcwalk::WalkCache(4096);
//   opts.walker = gcwalk::WalkerKind::Fast; opts.cache = thread->cache;
//   gcwalk::relocate_roots(*ctx, index, move, heap, opts, &stats, &error);   // stats.cached
//
// Sound: a rule step is a function of the index, the frame it leaves (SP, call site, where the
// registers it reads are saved) and the stack words it reads (the caller's return address and,
// for RBP-based frames, the saved RBP). The cache keeps each frame with the words its steps read
// and the values they had; a walk takes a frame and the frames outward of it from the cache only
// when all of that is unchanged, the index is the same (FrameIndex::serial) and so are the
// options. Only frames the fast walker stepped by rule are kept (not those reached through
// libunwind).
//
// A cache is used by one walk at a time (one per thread); clear() it (or delete it) when its
// thread ends, as a later walk reads the stack addresses it holds. Not thread-safe.
class WalkCache {
  public:
    // Keeps up to max_frames frames and max_roots root slots (0: 8 per frame); a deeper walk
    // keeps its innermost frames. About 140 bytes a frame plus 8 a root, zeroed here (so that
    // no walk pays the page faults). Throws std::bad_alloc.
    explicit WalkCache(uint32_t max_frames = 4096, uint32_t max_roots = 0);
    ~WalkCache();
    WalkCache(const WalkCache&) = delete;
    WalkCache& operator=(const WalkCache&) = delete;

    void clear() noexcept;
    // A walk that records costs several times one that does not (docs/PERFORMANCE.md), and
    // pays only when a later walk meets frames that did not change. After n walks in a row that
    // met none, the next min(2^(n-1) - 1, max_skip) walks do not record (they still take the
    // whole stack from the cache when it did not change). 0: every walk records. Default 7.
    void set_max_skip(uint32_t walks) noexcept;
    uint32_t capacity() const noexcept;
    uint32_t frames() const noexcept; // frames the cache holds
    uint64_t serial() const noexcept; // FrameIndex::serial they were recorded against

    static constexpr size_t kStorageSize = 160; // checked in unwind/walker_impl.hpp

  private:
    friend class detail::WalkerImpl;
    alignas(8) unsigned char storage_[kStorageSize]; // detail::WalkCacheState (unwind/)
};

// Walks the stack captured in a SafepointContext, one managed frame at a time; native frames
// (no record, not inside a managed function) are stepped over. Never allocates, throws or locks.
//
//   gcwalk::Walker w(ctx, index, opts);
//   for (; w.valid(); w.next()) {
//       const gcwalk::WalkFrame& f = w.frame();
//       for (gcwalk::RootPair p : index.roots(*f.site)) ... gcwalk::resolve_root(w, p.base) ...
//   }
//   if (w.failed()) report(w.error().message);
//
// The context's thread must stay inside gcwalk_safepoint_enter while the walker lives.
class Walker {
  public:
    Walker(const SafepointContext& ctx, const FrameIndex& index,
           const WalkOptions& options = {}) noexcept;
    Walker(const Walker&) = delete;
    Walker& operator=(const Walker&) = delete;
    ~Walker() {
        if (hot_.recording) [[unlikely]]
            end_recording();
    }

    // On entry the walker stands on a managed frame; on return on the next one, or !valid().
    bool valid() const noexcept { return hot_.valid; }
    void next() noexcept; // inline: the common step is in <gcwalk/detail/walk_step.hpp>
    const WalkFrame& frame() const noexcept { return frame_; }

    // Where callee-saved register `dwarf_reg` (kCalleeSaved) of the current frame lives now;
    // nullptr for other registers, or when its save location is the captured context copy
    // (writes there would be lost: the context was not captured by gcwalk_safepoint_enter).
    uint64_t* register_slot(uint32_t dwarf_reg) const noexcept;
    // True when `dwarf_reg` is callee-saved and its save location is the context copy.
    bool register_in_context(uint32_t dwarf_reg) const noexcept;
    // The value of `dwarf_reg` in the current frame: RSP is the frame's SP; callee-saved registers
    // are read through their save location. False for registers a call clobbers.
    bool register_value(uint32_t dwarf_reg, uint64_t* value) const noexcept;

    // Cold: the full record of the current frame (for deopt values), and any of its locations
    // resolved in this frame. resolve() is false for a register whose value is unknown here.
    bool record(RecordRef* out) const noexcept;
    bool resolve(const StackMapBlob& blob, const Location& loc,
                 ResolvedLocation* out) const noexcept;

    bool failed() const noexcept { return hot_.failed; }
    const WalkError& error() const noexcept;
    uint64_t skipped() const noexcept { return hot_.skipped; }
    uint64_t cached() const noexcept { return hot_.cached; } // frames taken from WalkOptions::cache
    // Fast walker: native frames (no record) stepped by their image's CFI rule, and frames stepped
    // by libunwind instead (unw_step calls: frames without an exact rule). Diagnostics for tests
    // and benchmarks; a walk of ordinary host code to the end of the stack has no unw_step.
    uint64_t native_rule_steps() const noexcept;
    uint64_t libunwind_steps() const noexcept;
    const FrameIndex& index() const noexcept { return *hot_.index; }
    const SafepointContext& context() const noexcept;

    // Records a problem: in precise mode the walk ends (failed()); in best-effort mode it is
    // counted and kept as the last message. Used by root resolution too.
    void report(uint64_t address, const char* fmt, ...) noexcept
        __attribute__((format(printf, 3, 4)));

    // A walk that never ends (a corrupt stack whose CFI loops) is cut after this many frames.
    static constexpr uint32_t kMaxFrames = 1u << 20;

    // The size of the out-of-line state (libunwind's cursor, the context that seeds it at native
    // frames, the walk cache's bookkeeping); checked in unwind/walker_impl.hpp.
    static constexpr size_t kStorageSize = 2624;

  private:
    friend class detail::WalkerImpl;    // the out-of-line walk (unwind/walker_impl.hpp)
    friend struct detail::WalkerAccess; // the inline step and for_each_root's loops
    void next_slow() noexcept;
    void end_recording() noexcept; // the walk cache keeps what this walk recorded

    WalkFrame frame_;
    detail::WalkState hot_;
    alignas(16) unsigned char storage_[kStorageSize]; // detail::WalkerCold (unwind/walker_impl.hpp)
};

} // namespace gcwalk

#include <gcwalk/detail/walk_step.hpp>
