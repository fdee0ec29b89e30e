// INTERNAL to gcwalk (walking layer): not part of the public API, may change at any time.
//
// The fast walker's common step, inline (Walker::next() and for_each_root's loops inline it: it is
// the measured hot path, docs/PERFORMANCE.md), and WalkerAccess: what for_each_root's loops use of
// the walker besides its public API. Included at the end of <gcwalk/walker.hpp>.
#pragma once

#include <gcwalk/detail/walk_state.hpp>
#include <gcwalk/walker.hpp>

#include <cstdint>

namespace gcwalk::detail {

// The fast walker's common step, from frame f (with an exact rule) to its caller when that has a
// record and an exact rule, is above stop_sp and is plausible: on true f is the caller and s.regs
// describes its registers; on false nothing changed and the walker's slow path redoes the step
// with every check and message. The CFA comes from the call site's step (CallSite::step, in the
// hash entry the previous frame's lookup loaded: no rule load before it). The standard
// frame-pointer frame is a branch, so that the next CFA depends on the saved RBP alone and not on
// the hash probe before it: the CPU overlaps the lookups of successive frames, the branch
// predictor confirming them.
//
// rbp_at stands for s.regs.where[kSavedRbp], which the step neither reads nor writes: a loop keeps
// it in a register from frame to frame (the frame-pointer chain then never goes through memory
// the step stored to) and writes it back when it hands the walker to anything else.
//
// Without kAllRegisters the step moves RBP's save location only, and leaves s.regs.in_context as
// it is (a bit may then say RBP's slot is the context copy when it is not: a refusal to write, not
// a wrong write): for a walk that needs no register's save slot and no register but RBP (no root
// of the index needs one: FrameIndex::register_roots()), and forgets the others when it leaves
// the inline step.
// A loop's guess of the next frame's step: the previous RSP-based step's (CallSite::step) and
// what it decodes to. A stack that repeats a frame (recursion, a loop of calls) repeats its step:
// a step equal to the guess takes the CFA from the guess, and the CPU, predicting that branch,
// computes the caller's SP and loads its return address without waiting for this frame's hash
// probe (which the branch then confirms). A step that differs decodes as before and becomes the
// guess. (A value prediction made by the branch predictor; the frame-pointer frame needs none:
// its CFA comes from the saved RBP.)
struct StepGuess {
    uint32_t step = CallSite::kStepSlow; // never an RSP-based step: the first one decodes
    uint64_t cfa_delta = 0;              // CFA - SP
    uint64_t rbp_below = 0;              // kStepRspRbp: CFA - RBP's save slot (0: RBP not saved)
};

template <bool kAllRegisters = true>
__attribute__((always_inline)) inline bool rule_step(WalkState& s, const FrameIndex::Hot& ix,
                                                     WalkFrame& f, uint64_t*& rbp_at,
                                                     StepGuess& guess) noexcept {
    const uint32_t step = f.site->step;
    const bool fp_frame = (step & 3u) == CallSite::kStepFp;
    uint64_t cfa;
    uint64_t* next_rbp_at; // where the caller's RBP is saved
    if (fp_frame) {
        if (__builtin_expect(rbp_at == nullptr, 0)) return false;
        cfa = *rbp_at + kFpCfaOffset;
        // Plausible: above the frame, within 1 GiB, 8-aligned.
        if (__builtin_expect(cfa - f.sp - 1 >= (uint64_t{1} << 30) - 1 || (cfa & 7) != 0, 0))
            return false;
        next_rbp_at = reinterpret_cast<uint64_t*>(cfa + kFpSavedRbp);
    } else {
        if (step != guess.step) [[unlikely]] {
            if (__builtin_expect(step == CallSite::kStepSlow, 0)) return false;
            // kStepRsp: 8 * bits 2-15; kStepRspRbp: 8 * bits 7-15 (above the frame: never 0),
            // RBP saved at CFA - 8 * bits 2-6.
            guess.step = step;
            guess.cfa_delta = 8 * uint64_t{(step & 2u) ? step >> 7 : step >> 2};
            guess.rbp_below = (step & 2u) ? 8 * uint64_t{step >> 2 & 31u} : 0;
            // (A branch, not a conditional move: the guessed path must not wait for the step.)
            __asm__ volatile("");
        }
        cfa = f.sp + guess.cfa_delta;
        next_rbp_at = guess.rbp_below ? reinterpret_cast<uint64_t*>(cfa - guess.rbp_below) : rbp_at;
    }
    if (__builtin_expect(cfa > s.sp_limit, 0)) return false;
    uint64_t ra;
    __builtin_memcpy(&ra, reinterpret_cast<const void*>(cfa - kReturnAddressBelowCfa), sizeof ra);
    // (find_any: a return address 0 may find an empty slot, whose step is kStepSlow.)
    const CallSite* site = ix.find_any(ra);
    if (__builtin_expect(!site, 0)) return false;
    if (__builtin_expect(site->step == CallSite::kStepSlow || f.depth + 1 >= Walker::kMaxFrames, 0))
        return false;
    // Registers this frame saved now live in its slots (real stack memory, not the context),
    // without branches on which ones (frames of different functions save different sets: a branch
    // per register would be mispredicted on mixed stacks). RBP's slot is in the step.
    uint8_t moved = static_cast<uint8_t>((step >> 1 & 1u) << kSavedRbp);
    rbp_at = next_rbp_at;
    if constexpr (kAllRegisters) {
        const FrameRule& r = ix.rule(*f.site);
#pragma GCC unroll 6
        for (unsigned i = 0; i < kNumCalleeSaved; ++i) {
            if (i == kSavedRbp) continue;
            const int64_t off = r.saved[i];
            uint64_t* const at = reinterpret_cast<uint64_t*>(cfa + off);
            uint64_t* const old = s.regs.where[i];
            s.regs.where[i] = off != 0 ? at : old;
            moved |= static_cast<uint8_t>((off != 0) << i);
        }
    }
    if constexpr (kAllRegisters) {
        if (__builtin_expect(s.regs.in_context != 0, 0))
            s.regs.in_context &= static_cast<uint8_t>(~moved);
    }
    f.return_address = ra;
    f.sp = cfa;
    f.site = site;
    ++f.depth;
    return true;
}

// rule_step on the walker's own register map.
__attribute__((always_inline)) inline bool rule_step(WalkState& s, const FrameIndex::Hot& ix,
                                                     WalkFrame& f) noexcept {
    uint64_t* rbp_at = s.regs.where[kSavedRbp];
    StepGuess guess;
    if (!rule_step(s, ix, f, rbp_at, guess)) return false;
    s.regs.where[kSavedRbp] = rbp_at;
    return true;
}

// What for_each_root's loops use of a Walker besides its public API.
struct WalkerAccess {
    // next() for loops that keep the frame and RBP's save location in registers (ix =
    // index().hot(), f = frame() and rbp_at = rbp_at(w) on entry): on return f is the current
    // frame, and the result is valid(). The walker's own copies (frame(), its register map) are
    // brought up to date only when the step leaves the inline path: a loop that hands the walker
    // to anything else first calls sync(w, f, rbp_at). (Not storing them every frame keeps the
    // frame-pointer chain out of memory, and the loop clear of stores to the walker, whose state
    // lives on a stack beside the frames it reads.)
    //
    // kAllRegisters is ix.register_roots (a loop chooses once): without it, the steps track RBP
    // only, and the other registers' save locations are forgotten (unknown, null) when the walk
    // goes on outside the inline step (advance() is for root walks alone).
    template <bool kAllRegisters>
    __attribute__((always_inline)) static bool advance(Walker& w, const FrameIndex::Hot& ix,
                                                       WalkFrame& f, uint64_t*& rbp_at,
                                                       StepGuess& guess) noexcept {
        if (w.hot_.by_rule && rule_step<kAllRegisters>(w.hot_, ix, f, rbp_at, guess)) [[likely]]
            return true;
        sync(w, f, rbp_at);
        if constexpr (!kAllRegisters) forget_registers(w);
        w.next_slow();
        f = w.frame_;
        rbp_at = w.hot_.regs.where[kSavedRbp];
        return w.hot_.valid;
    }
    static uint64_t* rbp_at(const Walker& w) noexcept { return w.hot_.regs.where[kSavedRbp]; }
    // Every callee-saved register but RBP: save location unknown.
    static void forget_registers(Walker& w) noexcept {
        for (unsigned i = 0; i < kNumCalleeSaved; ++i)
            if (i != kSavedRbp) w.hot_.regs.where[i] = nullptr;
        w.hot_.regs.in_context &= static_cast<uint8_t>(1u << kSavedRbp);
    }
    static void sync(Walker& w, const WalkFrame& f, uint64_t* rbp_at) noexcept {
        w.frame_ = f;
        w.hot_.regs.where[kSavedRbp] = rbp_at;
    }
    // advance() for a walk that records into its WalkCache (recording()): the same inline rule
    // step, and the frame reached is appended to the cache. A frame the cache holds starts a
    // replay (replaying()).
    static bool recording(const Walker& w) noexcept { return w.hot_.recording; }
    __attribute__((always_inline)) static bool
    advance_recording(Walker& w, const FrameIndex::Hot& ix, WalkFrame& f) noexcept {
        if (w.hot_.recording && !w.hot_.on_cursor && rule_step(w.hot_, ix, f)) [[likely]] {
            w.frame_ = f;
            const Appended a = append_frame(w.hot_, f.sp, f.site);
            if (a != Appended::kDone) [[unlikely]]
                appended(w, a);
            return true;
        }
        w.next_slow();
        f = w.frame_;
        return w.hot_.valid;
    }
    // While replaying(), the walker stands on cache frame replay_first() and the frames from it
    // outward to cache frame 0 come from the cache, their base slots at replay_slots()[0,
    // replay_slot_end()): frames outermost first, each frame's slots in reverse order. An odd
    // entry (k << 1 | 1) stands for cache frame k, which has a root that is not [RSP + offset]:
    // replay_seek(k) makes it the current frame (for resolve_root() on it). replay_finish()
    // steps past cache frame 0 as next() does and returns the frame it stands on (when valid()).
    static bool replaying(const Walker& w) noexcept { return w.hot_.replaying; }
    static uint32_t replay_first(const Walker& w) noexcept { return w.hot_.replay_first; }
    static const uintptr_t* replay_slots(const Walker& w) noexcept { return w.hot_.replay_slots; }
    static uint32_t replay_slot_end(const Walker& w) noexcept { return w.hot_.replay_slot_end; }
    static void replay_seek(Walker& w, uint32_t k) noexcept; // unwind/walk_cache.cpp
    static WalkFrame replay_finish(Walker& w) noexcept;      // unwind/walk_cache.cpp

  private:
    // The recording is full (it stops), or the frame appended is at a cache frame's SP.
    static void appended(Walker& w, Appended a) noexcept; // unwind/walk_cache.cpp
};

} // namespace gcwalk::detail

namespace gcwalk {

// The common case inline: a fast walker standing on a frame with an exact rule steps to a caller
// with one here; everything else (libunwind, the walk cache, errors, the end) is next_slow().
__attribute__((always_inline)) inline void Walker::next() noexcept {
    if (hot_.by_rule) [[likely]] {
        WalkFrame f = frame_;
        if (detail::rule_step(hot_, hot_.index->hot(), f)) [[likely]] {
            frame_ = f;
            return;
        }
    }
    next_slow();
}

} // namespace gcwalk
