// WalkCache: the fast walker's memory of a thread's last walk (include/gcwalk/walker.hpp).
//
// The cache holds frames outermost first, so that a walk whose innermost frames changed can keep
// the unchanged outer ones and append its own after them. A recording walk appends each frame it
// steps (innermost first) to the fresh frames and looks, at each, for the cache frame at the same
// SP; the first one that holds (same call site, same save slots for what the frames outward of it
// read, every word their steps read unchanged) is the junction: the rest of the walk is replayed
// from the cache, and the fresh frames are finalised after it. The recording itself stays out of
// the stepping loop: the loop stores (sp, site) only (detail::append_frame).
#include "walker_impl.hpp"

#include "frame_rules.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>

namespace gcwalk {

using detail::WalkCacheState;
using detail::WalkerImpl;

WalkCache::WalkCache(uint32_t max_frames, uint32_t max_roots) {
    WalkCacheState& c = *WalkerImpl::construct_state(*this);
    c.capacity = std::max<uint32_t>(max_frames, 1);
    c.slot_capacity = max_roots != 0 ? max_roots : 8 * c.capacity;
    // Every array is allocated here, and zeroed so that its pages are faulted in here too: a
    // walk never allocates, and the first one that records does not pay the page faults.
    const size_t n = c.capacity;
    std::unique_ptr<detail::CacheFrame[]> frame(new detail::CacheFrame[n]());
    std::unique_ptr<uint64_t*[]> where(new uint64_t*[detail::kNumCalleeSaved * n]());
    std::unique_ptr<uint8_t[]> needs(new uint8_t[n]());
    std::unique_ptr<uint32_t[]> first_word(new uint32_t[n + 1]());
    std::unique_ptr<uint32_t[]> first_slot(new uint32_t[n + 1]());
    std::unique_ptr<WalkCacheState::Run[]> run(new WalkCacheState::Run[2 * n]());
    std::unique_ptr<uint64_t[]> value(new uint64_t[2 * n]());
    std::unique_ptr<uintptr_t[]> slot(new uintptr_t[c.slot_capacity]());
    std::unique_ptr<detail::CacheFrame[]> fresh(new detail::CacheFrame[n]());
    c.frame = frame.release();
    c.where = where.release();
    c.needs = needs.release();
    c.first_word = first_word.release();
    c.first_slot = first_slot.release();
    c.run = run.release();
    c.value = value.release();
    c.slot = slot.release();
    c.fresh = fresh.release();
}

WalkCache::~WalkCache() {
    WalkCacheState& c = WalkerImpl::state(*this);
    delete[] c.frame;
    delete[] c.where;
    delete[] c.needs;
    delete[] c.first_word;
    delete[] c.first_slot;
    delete[] c.run;
    delete[] c.value;
    delete[] c.slot;
    delete[] c.fresh;
}

void WalkCache::clear() noexcept {
    WalkCacheState& c = WalkerImpl::state(*this);
    c.frames = 0;
    c.misses = c.skip = 0;
}

void WalkCache::set_max_skip(uint32_t walks) noexcept {
    WalkCacheState& c = WalkerImpl::state(*this);
    c.max_skip = walks;
    c.skip = std::min(c.skip, walks);
}

uint32_t WalkCache::capacity() const noexcept {
    return WalkerImpl::state(*this).capacity;
}
uint32_t WalkCache::frames() const noexcept {
    return WalkerImpl::state(*this).frames;
}
uint64_t WalkCache::serial() const noexcept {
    return WalkerImpl::state(*this).serial;
}

namespace detail {

// Appends the check "the word at `address` holds `word`": to the last run when it goes on at the
// same stride (the return addresses of frames of one size), else as a new run.
inline void WalkCacheState::add_check(const uint64_t* address, uint64_t word) noexcept {
    if (runs != 0) {
        Run& last = run[runs - 1];
        const int64_t gap = address - last.address;
        if (last.words == 1 && gap != 0 && gap >= -kMaxStride && gap <= kMaxStride) {
            last.stride = static_cast<int32_t>(gap);
            last.words = 2;
            value[values++] = word;
            return;
        }
        if (last.words > 1 &&
            address == last.address + static_cast<int64_t>(last.words) * last.stride) {
            ++last.words;
            value[values++] = word;
            return;
        }
    }
    run[runs++] = {address, 1, 1, values};
    value[values++] = word;
}

namespace {

// Whether the `words` words from `word` down, adjacent (stride -1), equal expect[0, words) in
// order: 16-byte compares, four independent accumulators. Handles a multiple of 8 words.
uint64_t adjacent_diff(const uint64_t* word, const uint64_t* expect, uint32_t words) noexcept {
    using v2 = uint64_t __attribute__((vector_size(16)));
    const auto swapped = [](v2 x) { return v2{x[1], x[0]}; }; // (GCC and clang: one shuffle)
    v2 v0 = {0, 0}, v1 = {0, 0}, v2_ = {0, 0}, v3 = {0, 0};
    const uint64_t* m = word - 1; // the pair (word[-1], word[0]) against expect[1], expect[0]
    const uint64_t* e = expect;
    const uint64_t* const e_end = expect + words;
    for (; e != e_end; e += 8, m -= 8) {
        v2 m0, m1, m2, m3, e0, e1, e2, e3;
        std::memcpy(&m0, m, 16);
        std::memcpy(&m1, m - 2, 16);
        std::memcpy(&m2, m - 4, 16);
        std::memcpy(&m3, m - 6, 16);
        std::memcpy(&e0, e, 16);
        std::memcpy(&e1, e + 2, 16);
        std::memcpy(&e2, e + 4, 16);
        std::memcpy(&e3, e + 6, 16);
        v0 |= swapped(m0) ^ e0;
        v1 |= swapped(m1) ^ e1;
        v2_ |= swapped(m2) ^ e2;
        v3 |= swapped(m3) ^ e3;
    }
    v0 |= v1 | v2_ | v3;
    return v0[0] | v0[1];
}

} // namespace

bool WalkCacheState::words_hold(uint32_t end) const noexcept {
    for (uint32_t r = 0; r < runs && run[r].first < end; ++r) {
        const Run& each = run[r];
        const uint32_t words = std::min(each.words, end - each.first);
        const uint64_t* expect = value + each.first;
        const uint64_t* word = each.address;
        const ptrdiff_t stride = each.stride;
        uint64_t diff = 0, d1 = 0, d2 = 0, d3 = 0; // four independent accumulators
        uint32_t w = 0;
        if (stride == -1) { // adjacent words, met from the highest address down
            w = words & ~7u;
            diff = adjacent_diff(word, expect, w);
            word -= w;
        }
        for (; w + 4 <= words; w += 4, word += 4 * stride) {
            diff |= word[0] ^ expect[w];
            d1 |= word[stride] ^ expect[w + 1];
            d2 |= word[2 * stride] ^ expect[w + 2];
            d3 |= word[3 * stride] ^ expect[w + 3];
        }
        for (; w < words; ++w, word += stride) diff |= *word ^ expect[w];
        if ((diff | d1 | d2 | d3) != 0) return false;
    }
    return true;
}

namespace {

// The callee-saved register a root location reads (its save slot or its value), as a bit.
__attribute__((always_inline)) inline uint8_t register_bit(RootLoc loc) noexcept {
    if (loc.is_sp_slot() || loc.kind() == RootLoc::kNone) [[likely]]
        return 0;
    const int i = callee_saved_index(loc.dwarf_reg());
    return i < 0 ? 0 : static_cast<uint8_t>(1u << i);
}

} // namespace

// Frame k's needs, root slots and checked words: its return address (unless it is the walk's
// innermost frame, which the stub's context gives) and, when its rule takes the CFA from a
// register, that register's save slot, which the step out of it reads. False when its root
// slots do not fit.
__attribute__((always_inline)) inline bool WalkerImpl::finalize_frame(uint32_t k,
                                                                      bool innermost) noexcept {
    WalkCacheState& c = *cold().cache;
    const FrameIndex::Hot ix = hot().index->hot();
    const CallSite& site = *c.frame[k].site;
    const uint64_t sp = c.frame[k].sp;
    uint64_t* const* where = c.where_of(k);
    const uint32_t npairs = site.num_roots();
    if (npairs > c.slot_capacity - c.slots) [[unlikely]]
        return false;

    // Root slots: all plain [RSP + offset] roots (the usual case), or one entry saying "resolve
    // frame k" (a root elsewhere, or a derived pointer: relocation needs the whole frame).
    const RootPair* pair = ix.root_pool + site.root_index();
    uintptr_t* const slots = c.slot + c.slots;
    uint8_t uses = 0;
    for (uint32_t i = 0; i < npairs; ++i) {
        const RootLoc b = pair[i].base, d = pair[i].derived;
        slots[npairs - 1 - i] =
            static_cast<uintptr_t>(sp + static_cast<int64_t>(b.offset())); // (reversed)
        if (!b.is_sp_slot() || !d.is_sp_slot()) [[unlikely]] {
            uses |= register_bit(b) | register_bit(d);
        }
    }
    if (!site.plain_roots()) {
        slots[0] = static_cast<uintptr_t>(k) << 1 | 1u;
        c.slots += 1;
    } else {
        c.slots += npairs;
    }
    c.first_slot[k + 1] = c.slots;

    const FrameRule& rule = ix.rule(site);
    const uint64_t* base_at = nullptr;
    if (rule.cfa_reg != kDwarfRsp)
        if (const int i = callee_saved_index(rule.cfa_reg); i >= 0) {
            base_at = where[i];
            uses |= static_cast<uint8_t>(1u << i);
        }
    uint8_t saves = 0;
    for (unsigned i = 0; i < kNumCalleeSaved; ++i)
        if (rule.saved[i] != 0) saves |= static_cast<uint8_t>(1u << i);
    c.needs[k] = static_cast<uint8_t>(uses | (k > 0 ? c.needs[k - 1] & ~saves : 0));

    // Checked words, outermost frame first: within a frame, the higher address first.
    const auto* ra_at = reinterpret_cast<const uint64_t*>(sp - kReturnAddressBelowCfa);
    if (base_at && base_at > ra_at) c.add_check(base_at, *base_at);
    if (!innermost) c.add_check(ra_at, site.return_address());
    if (base_at && base_at < ra_at) c.add_check(base_at, *base_at);
    c.first_word[k + 1] = c.values;
    return true;
}

// Save slots of the fresh frames kept (the outermost `keep` of fresh[0, m)), innermost first as
// the walk computed them: frame f + 1's are frame f's, moved by frame f's rule (whose CFA is
// frame f + 1's SP); fresh frame f goes to cache frame base + m - 1 - f.
void WalkerImpl::finalize_where(uint32_t base, uint32_t m, uint32_t keep) noexcept {
    WalkCacheState& c = *cold().cache;
    const FrameIndex::Hot ix = hot().index->hot();
    uint64_t* w[kNumCalleeSaved];
    std::memcpy(w, cold().first_where, sizeof w);
    for (uint32_t f = 0; f < m; ++f) {
        if (f >= m - keep) {
            uint64_t** out = c.where_of(base + m - 1 - f);
            for (unsigned i = 0; i < kNumCalleeSaved;
                 ++i) {             // word by word: a 16-byte load of w, just
                uint64_t* v = w[i]; // stored 8 bytes at a time, would wait
                asm("" : "+r"(v));  // for the stores (no forwarding)
                out[i] = v;
            }
        }
        if (f + 1 == m) break;
        rule_move_saves(ix.rule(*c.fresh[f].site), c.fresh[f + 1].sp, w);
    }
}

// The fresh frames of this walk, innermost first in fresh[0, rec_n), go after cache frame
// next_cached (at a junction: fresh[rec_n - 1] is that very frame) or replace the cache (none).
void WalkerImpl::finalize(bool junction) noexcept {
    WalkCacheState& c = *cold().cache;
    hot().recording = false;
    const uint32_t base = junction ? static_cast<uint32_t>(hot().next_cached) + 1 : 0;
    const uint32_t m = junction ? hot().rec_n - 1 : hot().rec_n;
    if (junction) {
        c.values = c.first_word[base];
        c.slots = c.first_slot[base];
        while (c.runs != 0 && c.run[c.runs - 1].first >= c.values) --c.runs;
        if (c.runs != 0) {
            WalkCacheState::Run& last = c.run[c.runs - 1];
            last.words = std::min(last.words, c.values - last.first);
        }
    } else {
        c.runs = c.values = c.slots = 0;
        c.first_word[0] = c.first_slot[0] = 0;
        c.misses = c.misses < 31 ? c.misses + 1 : 31;
        c.skip = std::min((uint32_t{1} << (c.misses - 1)) - 1, c.max_skip);
    }
    c.serial = hot().index->serial();
    c.stop_sp = cold().options.stop_sp;
    c.precise = cold().options.precise;
    const uint32_t keep = std::min(m, c.capacity - base); // the outermost fresh frames
    finalize_where(base, m, keep);
    // Frames, needs, words and slots, outermost first.
    uint32_t k = base;
    for (; k < base + keep; ++k) {
        const uint32_t f = base + m - 1 - k;
        c.frame[k] = c.fresh[f];
        if (!finalize_frame(k, f == 0)) break;
    }
    c.frames = k;
}

// The walker stands on the stub's caller, frame 0, reached by rule (its site has an exact rule).
void WalkerImpl::cache_start() noexcept {
    WalkCacheState& c = *cold().cache;
    if (c.frames != 0 &&
        (c.serial != hot().index->serial() || c.stop_sp != cold().options.stop_sp ||
         c.precise != cold().options.precise))
        c.frames = 0; // recorded against other stack maps or options: nothing holds
    std::memcpy(cold().first_where, hot().regs.where, sizeof cold().first_where);
    hot().fresh = c.fresh;
    hot().cache_frames = c.frame;
    hot().rec_capacity = c.capacity;
    hot().rec_n = 0;
    hot().next_cached = static_cast<int32_t>(c.frames) - 1;
    cold().met_cached = false;
    if (c.skip == 0) {
        hot().recording = true;
        hot().by_rule = false; // recorded steps are next_slow()'s (or advance_recording's)
        append(w_.frame_);     // frame 0 may be the cache's innermost frame: the whole stack holds
        return;
    }
    // Backing off: a walk that records costs more than one that does not (docs/PERFORMANCE.md),
    // and this stack keeps changing. Only a stack that did not change at all is taken from the
    // cache.
    if (hot().next_cached >= 0 && c.frame[hot().next_cached].sp == w_.frame_.sp) try_junction();
    if (!cold().met_cached) --c.skip;
}

void WalkerImpl::append(const WalkFrame& f) noexcept {
    appended(append_frame(hot(), f.sp, f.site));
}

void WalkerImpl::appended(Appended a) noexcept {
    if (a == Appended::kFull)
        cache_stop();
    else if (a == Appended::kJunction)
        try_junction();
}

void WalkerAccess::appended(Walker& w, Appended a) noexcept {
    WalkerImpl(w).appended(a);
}

// The current frame has the SP of cache frame next_cached: it is that frame when the call site is
// the same, the save slots the frames outward of it read are the same, and every word their steps
// read is unchanged. Then the rest of the walk is the cache's.
void WalkerImpl::try_junction() noexcept {
    WalkCacheState& c = *cold().cache;
    const auto k = static_cast<uint32_t>(hot().next_cached);
    if (c.frame[k].site != w_.frame_.site) return; // another frame at this SP: look further out
    uint64_t* const* cached = c.where_of(k);
    for (unsigned i = 0; i < kNumCalleeSaved; ++i)
        if ((c.needs[k] >> i & 1u) && cached[i] != hot().regs.where[i]) return;
    if (!c.words_hold(c.first_word[k + 1])) {
        hot().next_cached = -1; // the stack outward changed: no frame further out can hold either
        return;
    }
    cold().met_cached = true;
    c.misses = c.skip = 0;
    hot().cached = k + 1;
    for (unsigned i = 0; i < kNumCalleeSaved; ++i) {
        cold().junction_cached[i] = cached[i];
        cold().junction_walked[i] = hot().regs.where[i];
    }
    if (hot().recording) {
        // The frames kept keep their save slots as this walk finds them: a register no frame
        // from k outward saved is still where this walk found it at frame k (the stub's slot of
        // this walk, not of the walk that recorded them). The cache's frames then all describe
        // one walk, which the next junction relies on.
        for (unsigned i = 0; i < kNumCalleeSaved; ++i) {
            if (cold().junction_cached[i] == cold().junction_walked[i]) continue;
            for (uint32_t j = k + 1; j-- > 0 && c.where_of(j)[i] == cold().junction_cached[i];)
                c.where_of(j)[i] = cold().junction_walked[i];
        }
        finalize(true);
    }
    start_replay(k);
}

void WalkerImpl::start_replay(uint32_t k) noexcept {
    const WalkCacheState& c = *cold().cache;
    hot().replaying = true;
    hot().by_rule = false; // replayed frames are next_slow()'s
    hot().replay_first = k;
    hot().replay_slots = c.slot;
    hot().replay_slot_end = c.first_slot[k + 1];
    cold().replay_depth = w_.frame_.depth;
    replay_seek(k);
}

// Frame 0 is current: step on from it, as the recorded walk did.
void WalkerImpl::end_replay() noexcept {
    hot().replaying = false;
    fast_advance();
    // A rule step past the cache's outermost frame: the cache ended short of the walk (the walk
    // that recorded it was cut short, or ran out of room); the next walk records anew.
    if (cold().stepped_by_rule) cold().cache->frames = 0;
}

void WalkerImpl::cache_stop() noexcept {
    if (!hot().recording) return;
    finalize(false);
    hot().by_rule = hot().valid && !hot().on_cursor && !hot().replaying;
}

// A recording walk's step from a frame with an exact rule: rule_step, then the frame it reached
// is appended. Anything rule_step leaves to the slow path is fast_advance's (which appends too,
// or stops recording where libunwind takes over).
bool WalkerImpl::record_step() noexcept {
    WalkFrame f = w_.frame_;
    if (!rule_step(hot(), hot().index->hot(), f)) return false;
    w_.frame_ = f;
    append(f);
    return true;
}

// Cache frame k, with its save slots: a slot the frame inherited from above the junction (equal
// to the junction's in the cache) is the one this walk found there.
void WalkerImpl::replay_seek(uint32_t k) noexcept {
    const WalkCacheState& c = *cold().cache;
    WalkFrame& frame = w_.frame_;
    cold().replay_pos = k;
    frame.sp = c.frame[k].sp;
    frame.site = c.frame[k].site;
    frame.return_address = frame.site->return_address();
    frame.depth = cold().replay_depth + (hot().replay_first - k);
    uint64_t* const* cached = c.where_of(k);
    for (unsigned i = 0; i < kNumCalleeSaved; ++i)
        hot().regs.where[i] =
            cached[i] == cold().junction_cached[i] ? cold().junction_walked[i] : cached[i];
    hot().regs.in_context =
        0; // every register of a frame reached by rule from the stub is in stack memory
}

void WalkerAccess::replay_seek(Walker& w, uint32_t k) noexcept {
    WalkerImpl(w).replay_seek(k);
}

WalkFrame WalkerAccess::replay_finish(Walker& w) noexcept {
    WalkerImpl impl(w);
    impl.replay_seek(0);
    w.next_slow(); // steps on from the cache's outermost frame, as the recorded walk did
    return w.frame();
}

} // namespace detail
} // namespace gcwalk
