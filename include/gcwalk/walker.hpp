// The frame walker: steps from a SafepointContext through every frame of the stack (libunwind)
// and stops at each managed frame that has a stack map record, telling where that frame's SP is
// and where each of its callee-saved registers lives now.
#pragma once

#include <gcwalk/frame_index.hpp>
#include <gcwalk/safepoint.hpp>

#include <algorithm>
#include <cstdint>

namespace gcwalk {

class WalkCache;

enum class WalkerKind : uint8_t {
    Libunwind, // unw_step through every frame (DWARF CFI)
    Fast,      // managed and native frames stepped by CFI-derived FrameRules (no libunwind, no
               // syscall); frames without an exact rule are handed to libunwind
};

struct WalkOptions {
    WalkerKind walker = WalkerKind::Libunwind;
    // Precise: a return address inside a managed function without a record, a register root saved
    // only in the context copy, or an unwind failure ends the walk with an error. Best-effort:
    // such frames are counted in WalkStats::skipped, the last message is kept, and the walk goes on.
    bool precise = true;
    // When non-zero, the walk ends at the first frame whose SP is above this: the SP of the thread's
    // outermost managed frame (recorded where the thread entered managed code), so the native
    // frames below it (thread start, main) are not stepped. 0 walks to the end of the stack.
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

// The managed frames of a thread's last walk, so that the next walk re-checks the frames that
// did not change instead of stepping them: the whole stack of a thread parked since its last
// walk, and the unchanged outer part of the stack of a thread that ran (below its changed top).
//
// Sound: a rule step is a function of the index, the frame it leaves (SP, call site, where the
// registers it reads are saved) and the stack words it reads (the caller's return address and,
// for RBP-based frames, the saved RBP). The cache keeps each frame with the words its steps read
// and the values they had. When a walk reaches a frame the cache holds — same SP, same call site,
// the same save slots for every register that it and the frames outward of it read or hold roots
// in — and every word the cached steps outward of it read is unchanged, the rest of the walk is
// taken from the cache (frames, root slots, save slots) instead of being stepped. The index must
// be the same (FrameIndex::serial) and so must the options. Only frames the fast walker stepped
// by rule are kept (not those reached through libunwind).
//
//   thread->cache = new gcwalk::WalkCache(4096);      // at attach: allocates here, never in a walk
//   opts.walker = gcwalk::WalkerKind::Fast; opts.cache = thread->cache;
//   gcwalk::relocate_roots(*ctx, index, move, heap, opts, &stats, &error);   // stats.cached
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

    void clear() noexcept { frames_ = 0; misses_ = skip_ = 0; }
    // A walk that records costs 2.5-3.7x one that does not (docs/PERFORMANCE.md), and
    // pays only when a later walk meets frames that did not change. After n walks in a row that
    // met none, the next min(2^(n-1) - 1, max_skip) walks do not record (they still take the
    // whole stack from the cache when it did not change). 0: every walk records. Default 7.
    void set_max_skip(uint32_t walks) noexcept { max_skip_ = walks; skip_ = std::min(skip_, walks); }
    uint32_t capacity() const noexcept { return capacity_; }
    uint32_t frames() const noexcept { return frames_; } // frames the cache holds
    uint64_t serial() const noexcept { return serial_; } // FrameIndex::serial they were recorded against

private:
    friend class Walker;
    struct Frame {
        uint64_t sp;
        const CallSite* site;
    };
    // Words checked at a regular stride (adjacent words, or the return addresses of frames of
    // one size) form one run, compared in one loop.
    struct Run {
        const uint64_t* address;
        uint32_t words;
        int32_t stride; // in words
        uint32_t first; // index of its first word in value_
    };
    static constexpr int64_t kMaxStride = 64;
    void add_check(const uint64_t* address, uint64_t value) noexcept;
    bool words_hold(uint32_t end) const noexcept; // value_[0, end) all as recorded
    uint32_t capacity_ = 0, slot_capacity_ = 0;
    uint32_t frames_ = 0;        // frames [0, frames_), the outermost first
    uint64_t serial_ = 0;        // FrameIndex::serial of the recording walk
    uint64_t stop_sp_ = 0;
    bool precise_ = true;
    uint32_t runs_ = 0, values_ = 0, slots_ = 0;
    uint32_t misses_ = 0, skip_ = 0, max_skip_ = 7; // set_max_skip()
    Frame* frame_ = nullptr;     // [capacity_], the outermost first
    uint64_t* where_ = nullptr;  // [capacity_][6]: Walker::where_ at each frame
    uint8_t* needs_ = nullptr;   // [capacity_]: bit i: kCalleeSaved[i]'s save slot at frame k is read
                                 // by frame k or a frame outward of it (a CFA base, a root)
    uint32_t* first_word_ = nullptr; // [capacity_ + 1]: frame k's checked words are
                                     // value_[first_word_[k], first_word_[k + 1])
    uint32_t* first_slot_ = nullptr; // [capacity_ + 1]: frame k's entries of slot_
    Run* run_ = nullptr;         // [2 * capacity_]
    uint64_t* value_ = nullptr;  // [2 * capacity_]
    // for_each_root's base slots, frame by frame, each frame's in reverse order: a slot address,
    // or (k << 1 | 1) for a frame k with a root that is not [RSP + offset] (resolved when replayed).
    uintptr_t* slot_ = nullptr;  // [slot_capacity_]
    Frame* fresh_ = nullptr;     // [capacity_]: the frames a recording walk stepped, innermost first
};

// Filled on failure (and, in best-effort mode, with the last problem passed over); no allocation.
struct WalkError {
    uint64_t address = 0; // the return address of the frame concerned (0 if none)
    char message[256] = {};
};

// One managed frame, as the walker stands on it.
struct WalkFrame {
    uint64_t return_address = 0;  // IP of the frame = the return address into it = the stack map key
    uint64_t sp = 0;              // RSP at the call: what Indirect [R#7 + off] is relative to
    const CallSite* site = nullptr;
    uint32_t depth = 0;           // frames stepped since the stub (the stub's own frame is 0)
};

// The value of a Location in the current frame (resolve()).
struct ResolvedLocation {
    uint64_t value = 0;    // the value (Register, Indirect: read, zero-extended from `size` bytes;
                           // Direct: the address; Constant/ConstantIndex: the constant)
    void* slot = nullptr;  // where the value lives (Register: its save slot; Indirect: the stack
                           // address), nullptr for Direct and constants
};

// Walks the stack captured in a SafepointContext, one managed frame at a time; native frames
// (no record, not inside a managed function) are stepped over. Never allocates, throws or locks.
//
//   for (gcwalk::Walker w(ctx, index, opts); w.valid(); w.next()) {
//       const gcwalk::WalkFrame& f = w.frame();
//       for (gcwalk::RootPair p : index.roots(*f.site)) ...
//   }
//   if (w.failed()) report(w.error().message);   // (declare w outside the loop to ask)
//
// The context's thread must stay inside gcwalk_safepoint_enter while the walker lives.
class Walker {
public:
    Walker(const SafepointContext& ctx, const FrameIndex& index, const WalkOptions& options = {}) noexcept;
    Walker(const Walker&) = delete;
    Walker& operator=(const Walker&) = delete;
    ~Walker() { cache_stop(); }

    // On entry the walker stands on a managed frame; on return on the next one, or !valid().
    // Inline: a fast walker standing on a frame with an exact rule steps to a caller with one
    // here (step_by_rule); everything else (libunwind, errors, the end) is next_slow().
    bool valid() const noexcept { return valid_; }
    __attribute__((always_inline)) void next() noexcept {
        if (by_rule_) [[likely]] {
            WalkFrame f = frame_;
            if (rule_step(index_->hot(), f)) [[likely]] {
                frame_ = f;
                return;
            }
        }
        next_slow();
    }
    // Hot: next() for loops that keep the frame in registers (ix = index().hot(), f = frame() on
    // entry): on return f = frame(), and the result is valid().
    //   if (w.valid()) for (WalkFrame f = w.frame();; ) { ...; if (!w.advance(ix, f)) break; }
    __attribute__((always_inline)) bool advance(const FrameIndex::Hot& ix, WalkFrame& f) noexcept {
        if (by_rule_ && rule_step(ix, f)) [[likely]] {
            frame_ = f; // for the caller's use of the walker, and for next_slow()
            return true;
        }
        next_slow();
        f = frame_;
        return valid_;
    }
    // advance() for a walk that records into a WalkCache (recording()): the step is the same
    // inline rule step, and the frame reached is appended to the cache.
    bool recording() const noexcept { return recording_; }
    // A frame the cache holds starts a replay (replaying()).
    __attribute__((always_inline)) bool advance_recording(const FrameIndex::Hot& ix, WalkFrame& f) noexcept {
        if (recording_ && !on_cursor_ && rule_step(ix, f)) [[likely]] {
            frame_ = f;
            append_frame(f);
            return true;
        }
        next_slow();
        f = frame_;
        return valid_;
    }
    const WalkFrame& frame() const noexcept { return frame_; }

    // Where callee-saved register `dwarf_reg` (3, 6, 12-15) of the current frame lives now;
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
    bool resolve(const StackMapBlob& blob, const Location& loc, ResolvedLocation* out) const noexcept;

    // WalkCache replay, for loops that keep the frame in registers (for_each_root): while
    // replaying(), the walker stands on cache frame replay_first() and the frames from it outward
    // to frame 0 come from the cache, with their base slots at replay_slots()[first[k], first[k+1])
    // (replay_slot_index() = first), in reverse order; replay_seek(k) makes cache frame k the current one (for
    // resolve() and register_slot() on it); replay_finish() steps past frame 0 as next() does and
    // returns the frame it stands on (when valid()).
    bool replaying() const noexcept { return replaying_; }
    uint32_t replay_first() const noexcept { return replay_hi_; }
    const uintptr_t* replay_slots() const noexcept { return cache_->slot_; }
    const uint32_t* replay_slot_index() const noexcept { return cache_->first_slot_; }
    void replay_seek(uint32_t k) noexcept;
    WalkFrame replay_finish() noexcept;
    uint64_t cached() const noexcept { return cached_; } // frames taken from the cache
    // Fast walker: native frames (no record) stepped by their image's CFI rule, and frames stepped
    // by libunwind instead (unw_step calls: frames without an exact rule). Diagnostics for tests
    // and benchmarks; a walk of ordinary host code to the end of the stack has no unw_step.
    uint64_t native_rule_steps() const noexcept { return native_rule_steps_; }
    uint64_t libunwind_steps() const noexcept { return libunwind_steps_; }

    bool failed() const noexcept { return failed_; }
    const WalkError& error() const noexcept { return error_; }
    uint64_t skipped() const noexcept { return skipped_; }
    const FrameIndex& index() const noexcept { return *index_; }
    const SafepointContext& context() const noexcept { return *ctx_; }

    // Records a problem: in precise mode the walk ends (failed()); in best-effort mode it is
    // counted and kept as the last message. Used by root resolution too.
    void report(uint64_t address, const char* fmt, ...) noexcept __attribute__((format(printf, 3, 4)));

    // A walk that never ends (a corrupt stack whose CFI loops) is cut after this many frames.
    static constexpr uint32_t kMaxFrames = 1u << 20;

private:
    void next_slow() noexcept;
    bool rule_step(const FrameIndex::Hot& ix, WalkFrame& f) noexcept;
    void advance(bool step_first) noexcept; // steps until a managed frame with a record, or the end
    bool load_frame() noexcept;             // reads IP/SP/save slots of the cursor's frame

    alignas(16) unsigned char cursor_[1024]; // unw_cursor_t (1016 bytes in libunwind 1.6.2)
    const SafepointContext* ctx_;
    const FrameIndex* index_;
    WalkOptions options_;
    WalkFrame frame_;
    uint64_t* saved_[6] = {};      // libunwind walker: save slot per kCalleeSaved register (null: none or context)
    uint8_t in_context_ = 0;       // bit i: kCalleeSaved[i]'s save location is the context copy
    // The fast walker (unwind/fast_walker.cpp). where_[i]: where kCalleeSaved[i]'s value in the
    // current frame lives (a stack slot, or null when unknown). synth_: the ucontext that seeds
    // libunwind at a native frame with the carried registers.
    void fast_start() noexcept;
    void fast_advance() noexcept;
    void fast_arrive(uint64_t ip, uint64_t sp) noexcept;
    // A return address inside a managed function without a record: an error in precise mode.
    void report_missing_record(uint64_t ip, const FrameRecord* function) noexcept;
    void fast_cursor(bool step_first) noexcept;
    void fast_yield(uint64_t ip, uint64_t sp, const CallSite* site) noexcept;
    uint64_t* where_[6] = {};
    // The fast walker's CFA predictor for frames without a frame pointer: memo_[memo_slot(ra)] =
    // ra << 16 | the CFA offset from RSP last seen at ra (0: empty). Zeroed by the first step that
    // needs it (walks of frame-pointer frames never pay for it); a wrong entry costs a slower step,
    // never a wrong one (the rule confirms it).
    static constexpr unsigned kMemoBits = 7;
    static uint64_t memo_slot(uint64_t ra) noexcept { return (ra * 0x9E3779B97F4A7C15ull) >> (64 - kMemoBits); }
    void clear_memo() noexcept;
    uint64_t memo_[1u << kMemoBits];
    bool memo_ready_ = false;
    uint64_t* seed_[6] = {};  // where_ when libunwind was seeded (save locations inside synth_ map here)
    alignas(16) unsigned char synth_[1024];
    // WalkCache (unwind/walk_cache.cpp). A recording walk appends each frame it reaches by rule
    // to cache_->fresh_ as (sp, site) only, and looks for the first frame the cache holds (jc_
    // follows the cache frames by SP); finalize() then adds, from the frozen stack, each fresh
    // frame's save slots, checked words and root slots (so that the stepping loop stays as tight
    // as an unrecorded walk's). replay_hi_ .. 0 are the cache frames being handed out.
    void cache_start() noexcept;
    void cache_stop() noexcept; // ends recording: the fresh frames are finalised and kept
    void append_frame(const WalkFrame& f) noexcept {
        WalkCache& c = *cache_;
        if (rec_n_ >= c.capacity_) [[unlikely]] return cache_stop();
        c.fresh_[rec_n_++] = {f.sp, f.site};
        while (jc_ >= 0 && c.frame_[jc_].sp < f.sp) --jc_;
        if (jc_ >= 0 && c.frame_[jc_].sp == f.sp) [[unlikely]] try_junction();
    }
    void try_junction() noexcept; // the current frame is at the SP of cache frame jc_
    void start_replay(uint32_t k) noexcept;
    void finalize(bool junction) noexcept;
    bool finalize_frame(uint32_t k, bool innermost) noexcept;
    bool record_step() noexcept; // a rule step as rule_step's, appended
    WalkCache* cache_ = nullptr;
    uint32_t rec_n_ = 0;      // fresh frames appended
    int32_t jc_ = -1;         // the cache frame a fresh frame may meet next (-1: none)
    uint32_t replay_hi_ = 0;  // the first cache frame replayed (the junction)
    uint32_t replay_pos_ = 0; // the cache frame the walker stands on while replaying
    uint32_t replay_depth_ = 0; // depth of cache frame replay_hi_
    uint64_t* where0_[6] = {};  // where_ at the first frame (the stub's slots)
    uint64_t* jw_old_[6] = {};  // at the junction: the cache's where_ and the walk's; a replayed
    uint64_t* jw_new_[6] = {};  // frame's slot equal to the first is inherited: the second
    uint64_t cached_ = 0;
    bool recording_ = false;
    bool replaying_ = false;
    bool met_ = false;        // this walk met a frame the cache holds
    bool stepped_by_rule_ = false; // fast_advance reached the current frame by a rule step
    bool fast_ = false;       // options_.walker == Fast
    bool on_cursor_ = false;  // fast walker: the current frame is the cursor's (stepped by libunwind)
    bool by_rule_ = false;    // fast walker, valid, and the current frame is stepped by its rule
    bool valid_ = false;
    bool failed_ = false;
    uint64_t skipped_ = 0;
    uint64_t native_rule_steps_ = 0, libunwind_steps_ = 0;
    WalkError error_;
};

// The fast walker's common step, from frame f (with an exact rule) to its caller when that has a
// record and an exact rule, is above stop_sp and is plausible: on true f is the caller and where_,
// and in_context_ describe its registers; on false nothing changed and next_slow() redoes
// the step with every check and message. The standard frame-pointer frame (CFA = RBP + 16, RBP
// saved at CFA - 16) is tested as a branch, not computed from the rule's fields, so that the next
// CFA depends on the saved RBP alone and not on the hash probe and rule load before it: the CPU
// overlaps the lookups of successive frames, the branch predictor confirming them.
__attribute__((always_inline)) inline bool Walker::rule_step(const FrameIndex::Hot& ix, WalkFrame& f) noexcept {
    const FrameRule& r = ix.rule(*f.site);
    uint64_t* const rbp_at = where_[1];
    const bool fp_frame = r.cfa_reg == 6 && r.cfa_offset == 16 && r.saved[1] == -16 && rbp_at != nullptr;
    uint64_t cfa;
    if (__builtin_expect(fp_frame, 1)) {
        cfa = *rbp_at + 16;
    } else {
        // CFA = RSP + offset: the offset is taken from memo_ when the rule confirms it, so that
        // the next CFA waits for one small-table load, not for the hash probe and the rule load.
        if (__builtin_expect(!memo_ready_, 0)) clear_memo();
        const uint64_t slot = memo_slot(f.return_address);
        const uint64_t m = memo_[slot];
        uint64_t predicted = m & 0xffff;
        asm("" : "+r"(predicted)); // opaque: the CFA below must not be computed from the rule's copy
        if (__builtin_expect((m >> 16) == f.return_address && r.cfa_reg == 7 &&
                                 static_cast<uint64_t>(static_cast<int64_t>(r.cfa_offset)) == (m & 0xffff), 1)) {
            cfa = f.sp + predicted;
        } else {
            if (r.cfa_reg != 7) return false;
            cfa = f.sp + static_cast<int64_t>(r.cfa_offset);
            if (r.cfa_offset > 0 && r.cfa_offset < 0x10000)
                memo_[slot] = f.return_address << 16 | static_cast<uint64_t>(r.cfa_offset);
        }
    }
    if (__builtin_expect(cfa - f.sp - 1 >= (uint64_t{1} << 30) - 1 || (cfa & 7) != 0, 0)) return false;
    if (__builtin_expect(options_.stop_sp != 0 && cfa > options_.stop_sp, 0)) return false;
    uint64_t ra;
    __builtin_memcpy(&ra, reinterpret_cast<const void*>(cfa - 8), sizeof ra);
    const CallSite* site = ix.find(ra);
    if (__builtin_expect(!site, 0)) return false;
    if (__builtin_expect(!(ix.rule(*site).flags & kRuleFromCfi) || f.depth + 1 >= kMaxFrames, 0)) return false;
    // Registers this frame saved now live in its slots (real stack memory, not the context).
    uint8_t moved = 0;
#pragma GCC unroll 6
    for (int i = 0; i < 6; ++i) {
        if (i == 1 && fp_frame) {
            where_[1] = reinterpret_cast<uint64_t*>(cfa - 16);
            moved |= 2u;
        } else if (r.saved[i] != 0) {
            where_[i] = reinterpret_cast<uint64_t*>(cfa + static_cast<int64_t>(r.saved[i]));
            moved |= static_cast<uint8_t>(1u << i);
        }
    }
    if (__builtin_expect(in_context_ != 0, 0)) in_context_ &= static_cast<uint8_t>(~moved);
    f.return_address = ra;
    f.sp = cfa;
    f.site = site;
    ++f.depth;
    return true;
}

} // namespace gcwalk
