// The walker's out-of-line state and parts (internal to unwind/): what lives in Walker's and
// WalkCache's opaque storage, and WalkerImpl, the code of the libunwind walker, the fast
// walker's slow and native steps, and the walk cache, with access to both the hot state
// (detail::WalkState, inline in <gcwalk/walker.hpp>) and this one.
#pragma once

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <gcwalk/walker.hpp>

#include <ucontext.h>

#include <algorithm>
#include <cstdint>
#include <new>
#include <type_traits>

namespace gcwalk::detail {

// WalkCache's state (unwind/walk_cache.cpp), in its opaque storage. The arrays are allocated by
// the WalkCache's constructor.
struct WalkCacheState {
    // Words checked at a regular stride (adjacent words, or the return addresses of frames of
    // one size) form one run, compared in one loop.
    struct Run {
        const uint64_t* address;
        uint32_t words;
        int32_t stride; // in words
        uint32_t first; // index of its first word in value
    };
    static constexpr int64_t kMaxStride = 64;
    void add_check(const uint64_t* address, uint64_t word) noexcept;
    bool words_hold(uint32_t end) const noexcept; // value[0, end) all as recorded

    uint32_t capacity = 0, slot_capacity = 0;
    uint32_t frames = 0; // frames [0, frames), the outermost first
    uint64_t serial = 0; // FrameIndex::serial of the recording walk
    uint64_t stop_sp = 0;
    bool precise = true;
    uint32_t runs = 0, values = 0, slots = 0;
    uint32_t misses = 0, skip = 0, max_skip = 7; // WalkCache::set_max_skip()
    CacheFrame* frame = nullptr;                 // [capacity], the outermost first
    uint64_t** where = nullptr;     // [capacity][kNumCalleeSaved]: RegisterMap::where at each frame
    uint8_t* needs = nullptr;       // [capacity]: bit i: kCalleeSaved[i]'s save slot at frame k is
                                    // read by frame k or a frame outward of it (a CFA base, a root)
    uint32_t* first_word = nullptr; // [capacity + 1]: frame k's checked words are
                                    // value[first_word[k], first_word[k + 1])
    uint32_t* first_slot = nullptr; // [capacity + 1]: frame k's entries of slot
    Run* run = nullptr;             // [2 * capacity]
    uint64_t* value = nullptr;      // [2 * capacity]
    // for_each_root's base slots, frame by frame, each frame's in reverse order: a slot address,
    // or (k << 1 | 1) for a frame k with a root that is not [RSP + offset] (resolved when
    // replayed).
    uintptr_t* slot = nullptr;   // [slot_capacity]
    CacheFrame* fresh = nullptr; // [capacity]: the frames a recording walk stepped, innermost first

    uint64_t** where_of(uint32_t k) const noexcept {
        return where + kNumCalleeSaved * static_cast<size_t>(k);
    }
};

// The walker's state besides the hot one, in Walker's opaque storage.
struct WalkerCold {
    unw_cursor_t cursor;
    // The fast walker seeds libunwind at a native frame with a ucontext synthesised from the
    // carried registers; seed is the RegisterMap::where of that moment (a save location libunwind
    // reports inside synth maps back to it).
    ucontext_t synth;
    uint64_t* seed[kNumCalleeSaved] = {};
    const SafepointContext* ctx = nullptr;
    WalkOptions options;
    bool fast = false;            // options.walker == Fast
    bool stepped_by_rule = false; // fast_advance reached the current frame by a rule step
    uint64_t native_rule_steps = 0, libunwind_steps = 0;
    WalkError error;
    // The walk cache (unwind/walk_cache.cpp). A recording walk appends each frame it reaches by
    // rule to the cache's fresh frames as (sp, site) only (detail::append_frame), and looks for
    // the first frame the cache holds; finalize() then adds, from the frozen stack, each fresh
    // frame's save slots, checked words and root slots (so that the stepping loop stays as tight
    // as an unrecorded walk's).
    WalkCacheState* cache = nullptr;
    uint32_t replay_pos = 0;   // the cache frame the walker stands on while replaying
    uint32_t replay_depth = 0; // depth of cache frame WalkState::replay_first
    uint64_t* first_where[kNumCalleeSaved] =
        {}; // RegisterMap::where at the first frame (the stub's slots)
    // At the junction, the save slots of the cache and of this walk: a replayed frame's slot
    // equal to the cache's is inherited from above the junction, and is this walk's.
    uint64_t* junction_cached[kNumCalleeSaved] = {};
    uint64_t* junction_walked[kNumCalleeSaved] = {};
    bool met_cached = false; // this walk met a frame the cache holds
};
static_assert(sizeof(WalkerCold) <= Walker::kStorageSize, "Walker::kStorageSize is too small");
static_assert(alignof(WalkerCold) <= 16, "WalkerCold needs more alignment than Walker::storage_");
static_assert(std::is_trivially_destructible_v<WalkerCold>);
static_assert(sizeof(WalkCacheState) <= WalkCache::kStorageSize,
              "WalkCache::kStorageSize is too small");
static_assert(alignof(WalkCacheState) <= 8,
              "WalkCacheState needs more alignment than WalkCache::storage_");

// A view of one walker: its hot state, its cold state, and the code that needs both.
class WalkerImpl {
  public:
    explicit WalkerImpl(Walker& w) noexcept : w_(w) {}
    static WalkerCold& cold(Walker& w) noexcept {
        return *std::launder(reinterpret_cast<WalkerCold*>(w.storage_));
    }
    static const WalkerCold& cold(const Walker& w) noexcept {
        return *std::launder(reinterpret_cast<const WalkerCold*>(w.storage_));
    }
    static WalkCacheState& state(WalkCache& c) noexcept {
        return *std::launder(reinterpret_cast<WalkCacheState*>(c.storage_));
    }
    static const WalkCacheState& state(const WalkCache& c) noexcept {
        return *std::launder(reinterpret_cast<const WalkCacheState*>(c.storage_));
    }
    static WalkerCold* construct_cold(Walker& w) noexcept { return new (w.storage_) WalkerCold; }
    static WalkCacheState* construct_state(WalkCache& c) noexcept {
        return new (c.storage_) WalkCacheState;
    }

    // libunwind_walker.cpp: the libunwind walker and the step dispatch.
    void start_libunwind() noexcept;
    void next_slow() noexcept;
    void
    unw_advance(bool step_first) noexcept; // steps until a managed frame with a record, or the end
    void load_frame() noexcept;            // where the cursor's frame's registers live
    void report_missing_record(uint64_t ip, const FrameRecord* function) noexcept;
    void report_too_deep() noexcept;

    // fast_walker.cpp.
    void fast_start() noexcept;
    void fast_advance() noexcept;
    void fast_arrive(uint64_t ip, uint64_t sp) noexcept;
    void seed_cursor(uint64_t ip, uint64_t sp) noexcept;
    void fast_cursor(bool step_first) noexcept;
    uint64_t* seeded_where(int greg) const noexcept; // the carried slot of a register synth holds
    void fast_yield(uint64_t ip, uint64_t sp, const CallSite* site) noexcept;

    // walk_cache.cpp.
    void cache_start() noexcept;
    void cache_stop() noexcept; // ends recording: the fresh frames are finalised and kept
    void append(const WalkFrame& f) noexcept;
    void appended(Appended a) noexcept;
    void try_junction() noexcept; // the current frame is at the SP of cache frame next_cached
    void start_replay(uint32_t k) noexcept;
    void finalize(bool junction) noexcept;
    void finalize_where(uint32_t base, uint32_t m, uint32_t keep) noexcept;
    bool finalize_frame(uint32_t k, bool innermost) noexcept;
    bool record_step() noexcept; // a rule step as rule_step's, appended
    void replay_seek(uint32_t k) noexcept;
    void end_replay() noexcept;

  private:
    Walker& w_;
    // The hot and the cold state, at fixed offsets from the walker (no pointer of their own).
    WalkState& hot() const noexcept { return w_.hot_; }
    WalkerCold& cold() const noexcept { return cold(w_); }
};

} // namespace gcwalk::detail
