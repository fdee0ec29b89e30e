// WalkCache: the fast walker's memory of a thread's last walk (include/gcwalk/walker.hpp).
//
// The cache holds frames outermost first, so that a walk whose innermost frames changed can keep
// the unchanged outer ones and append its own after them. A recording walk appends each frame it
// steps (innermost first) to fresh_ and looks, at each, for the cache frame at the same SP; the
// first one that holds (same call site, same save slots for what the frames outward of it read,
// every word their steps read unchanged) is the junction: the rest of the walk is replayed from
// the cache, and the fresh frames are finalised after it. The recording itself stays out of the
// stepping loop: the loop stores (sp, site) only.
#include <gcwalk/walker.hpp>

#include "frame_rules.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>

namespace gcwalk {

WalkCache::WalkCache(uint32_t max_frames, uint32_t max_roots)
    : capacity_(std::max<uint32_t>(max_frames, 1)),
      slot_capacity_(max_roots != 0 ? max_roots : 8 * std::max<uint32_t>(max_frames, 1)) {
    // Every array is allocated here, and zeroed so that its pages are faulted in here too: a
    // walk never allocates, and the first one that records does not pay the page faults.
    const size_t n = capacity_;
    std::unique_ptr<Frame[]> frame(new Frame[n]());
    std::unique_ptr<uint64_t[]> where(new uint64_t[6 * n]());
    std::unique_ptr<uint8_t[]> needs(new uint8_t[n]());
    std::unique_ptr<uint32_t[]> first_word(new uint32_t[n + 1]());
    std::unique_ptr<uint32_t[]> first_slot(new uint32_t[n + 1]());
    std::unique_ptr<Run[]> run(new Run[2 * n]());
    std::unique_ptr<uint64_t[]> value(new uint64_t[2 * n]());
    std::unique_ptr<uintptr_t[]> slot(new uintptr_t[slot_capacity_]());
    std::unique_ptr<Frame[]> fresh(new Frame[n]());
    frame_ = frame.release();
    where_ = where.release();
    needs_ = needs.release();
    first_word_ = first_word.release();
    first_slot_ = first_slot.release();
    run_ = run.release();
    value_ = value.release();
    slot_ = slot.release();
    fresh_ = fresh.release();
}

WalkCache::~WalkCache() {
    delete[] frame_;
    delete[] where_;
    delete[] needs_;
    delete[] first_word_;
    delete[] first_slot_;
    delete[] run_;
    delete[] value_;
    delete[] slot_;
    delete[] fresh_;
}

// Appends the check "the word at `address` holds `value`": to the last run when it goes on at the
// same stride (the return addresses of frames of one size), else as a new run.
inline void WalkCache::add_check(const uint64_t* address, uint64_t value) noexcept {
    if (runs_ != 0) {
        Run& last = run_[runs_ - 1];
        const int64_t gap = address - last.address;
        if (last.words == 1 && gap != 0 && gap >= -kMaxStride && gap <= kMaxStride) {
            last.stride = static_cast<int32_t>(gap);
            last.words = 2;
            value_[values_++] = value;
            return;
        }
        if (last.words > 1 && address == last.address + static_cast<int64_t>(last.words) * last.stride) {
            ++last.words;
            value_[values_++] = value;
            return;
        }
    }
    run_[runs_++] = {address, 1, 1, values_};
    value_[values_++] = value;
}

bool WalkCache::words_hold(uint32_t end) const noexcept {
    for (uint32_t r = 0; r < runs_ && run_[r].first < end; ++r) {
        const Run& run = run_[r];
        const uint32_t words = std::min(run.words, end - run.first);
        const uint64_t* expect = value_ + run.first;
        const uint64_t* word = run.address;
        const ptrdiff_t stride = run.stride;
        uint64_t diff = 0, d1 = 0, d2 = 0, d3 = 0; // four independent accumulators
        uint32_t w = 0;
        if (stride == -1) { // adjacent words, met from the highest address down: 16-byte compares
            using v2 = uint64_t __attribute__((vector_size(16)));
            const auto swapped = [](v2 x) { return v2{x[1], x[0]}; }; // (GCC and clang: one shuffle)
            v2 v0 = {0, 0}, v1 = {0, 0}, v2_ = {0, 0}, v3 = {0, 0};
            const uint64_t* m = word - 1; // the pair (word[-1], word[0]) against expect[1], expect[0]
            const uint64_t* e = expect;
            const uint64_t* const e_end = expect + (words & ~7u);
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
            diff = v0[0] | v0[1];
            w = words & ~7u;
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
    if (loc.is_sp_slot() || loc.kind() == RootLoc::kNone) [[likely]] return 0;
    const int i = callee_saved_index(loc.dwarf_reg());
    return i < 0 ? 0 : static_cast<uint8_t>(1u << i);
}

} // namespace

// Frame k's needs, root slots and checked words: its return address (unless it is the walk's
// innermost frame, which the stub's context gives) and, when its rule takes the CFA from a
// register, that register's save slot, which the step out of it reads. False when its root
// slots do not fit.
__attribute__((always_inline)) inline bool Walker::finalize_frame(uint32_t k, bool innermost) noexcept {
    WalkCache& c = *cache_;
    const FrameIndex::Hot ix = index_->hot();
    const CallSite& site = *c.frame_[k].site;
    const uint64_t sp = c.frame_[k].sp;
    uint64_t* const* where = reinterpret_cast<uint64_t* const*>(c.where_ + 6 * static_cast<size_t>(k));
    const uint32_t npairs = site.num_roots();
    if (npairs > c.slot_capacity_ - c.slots_) [[unlikely]] return false;

    // Root slots: all [RSP + offset] (the usual case), or one entry saying "resolve frame k".
    const RootPair* pair = ix.root_pool + site.first_root;
    uintptr_t* const slots = c.slot_ + c.slots_;
    uint8_t uses = 0;
    bool other = false;
    for (uint32_t i = 0; i < npairs; ++i) {
        const RootLoc b = pair[i].base, d = pair[i].derived;
        slots[npairs - 1 - i] = static_cast<uintptr_t>(sp + static_cast<int64_t>(b.offset())); // (reversed)
        if (!b.is_sp_slot() || !d.is_sp_slot()) [[unlikely]] {
            uses |= register_bit(b) | register_bit(d);
            other |= !b.is_sp_slot();
        }
    }
    if (other) {
        slots[0] = static_cast<uintptr_t>(k) << 1 | 1u;
        c.slots_ += 1;
    } else {
        c.slots_ += npairs;
    }
    c.first_slot_[k + 1] = c.slots_;

    const FrameRule& rule = ix.rule(site);
    const uint64_t* base_at = nullptr;
    if (rule.cfa_reg != 7)
        if (const int i = callee_saved_index(rule.cfa_reg); i >= 0) {
            base_at = where[i];
            uses |= static_cast<uint8_t>(1u << i);
        }
    uint8_t saves = 0;
    for (int i = 0; i < 6; ++i)
        if (rule.saved[i] != 0) saves |= static_cast<uint8_t>(1u << i);
    c.needs_[k] = static_cast<uint8_t>(uses | (k > 0 ? c.needs_[k - 1] & ~saves : 0));

    // Checked words, outermost frame first: within a frame, the higher address first.
    const auto* ra_at = reinterpret_cast<const uint64_t*>(sp - 8);
    if (base_at && base_at > ra_at) c.add_check(base_at, *base_at);
    if (!innermost) c.add_check(ra_at, site.return_address());
    if (base_at && base_at < ra_at) c.add_check(base_at, *base_at);
    c.first_word_[k + 1] = c.values_;
    return true;
}

// The fresh frames of this walk, innermost first in fresh_[0, rec_n_), go after cache frame
// jc_ (at a junction: fresh_[rec_n_ - 1] is that very frame) or replace the cache (none).
void Walker::finalize(bool junction) noexcept {
    WalkCache& c = *cache_;
    recording_ = false;
    const uint32_t base = junction ? static_cast<uint32_t>(jc_) + 1 : 0;
    const uint32_t m = junction ? rec_n_ - 1 : rec_n_;
    if (junction) {
        c.values_ = c.first_word_[base];
        c.slots_ = c.first_slot_[base];
        while (c.runs_ != 0 && c.run_[c.runs_ - 1].first >= c.values_) --c.runs_;
        if (c.runs_ != 0) {
            WalkCache::Run& last = c.run_[c.runs_ - 1];
            last.words = std::min(last.words, c.values_ - last.first);
        }
    } else {
        c.runs_ = c.values_ = c.slots_ = 0;
        c.first_word_[0] = c.first_slot_[0] = 0;
        c.misses_ = c.misses_ < 31 ? c.misses_ + 1 : 31;
        c.skip_ = std::min((uint32_t{1} << (c.misses_ - 1)) - 1, c.max_skip_);
    }
    c.serial_ = index_->serial();
    c.stop_sp_ = options_.stop_sp;
    c.precise_ = options_.precise;
    const uint32_t keep = std::min(m, c.capacity_ - base); // the outermost fresh frames
    const FrameIndex::Hot ix = index_->hot();

    // Save slots, innermost first as the walk computed them: frame f + 1's are frame f's, moved
    // by frame f's rule (whose CFA is frame f + 1's SP).
    uint64_t* w[6];
    std::memcpy(w, where0_, sizeof w);
    for (uint32_t f = 0; f < m; ++f) {
        if (f >= m - keep) {
            uint64_t** out = reinterpret_cast<uint64_t**>(c.where_ + 6 * static_cast<size_t>(base + m - 1 - f));
            for (int i = 0; i < 6; ++i) { // word by word: a 16-byte load of w, just stored 8 bytes
                uint64_t* v = w[i];       // at a time, would wait for the stores (no forwarding)
                asm("" : "+r"(v));
                out[i] = v;
            }
        }
        if (f + 1 == m) break;
        rule_move_saves(ix.rule(*c.fresh_[f].site), c.fresh_[f + 1].sp, w);
    }
    // Frames, needs, words and slots, outermost first.
    uint32_t k = base;
    for (; k < base + keep; ++k) {
        const uint32_t f = base + m - 1 - k;
        c.frame_[k] = c.fresh_[f];
        if (!finalize_frame(k, f == 0)) break;
    }
    c.frames_ = k;
}

// The walker stands on the stub's caller, frame 0, reached by rule (its site has an exact rule).
void Walker::cache_start() noexcept {
    WalkCache& c = *cache_;
    if (c.frames_ != 0 &&
        (c.serial_ != index_->serial() || c.stop_sp_ != options_.stop_sp || c.precise_ != options_.precise))
        c.frames_ = 0; // recorded against other stack maps or options: nothing holds
    std::memcpy(where0_, where_, sizeof where_);
    rec_n_ = 0;
    jc_ = static_cast<int32_t>(c.frames_) - 1;
    met_ = false;
    if (c.skip_ == 0) {
        recording_ = true;
        by_rule_ = false; // recorded steps are next_slow()'s (or advance_recording's)
        append_frame(frame_); // frame 0 may be the cache's innermost frame: the whole stack holds
        return;
    }
    // Backing off: a walk that records costs 2.5-3.7x one that does not, and this stack
    // keeps changing. Only a stack that did not change at all is taken from the cache.
    if (jc_ >= 0 && c.frame_[jc_].sp == frame_.sp) try_junction();
    if (!met_) --c.skip_;
}

// The current frame has the SP of cache frame jc_: it is that frame when the call site is the
// same, the save slots the frames outward of it read are the same, and every word their steps
// read is unchanged. Then the rest of the walk is the cache's.
void Walker::try_junction() noexcept {
    WalkCache& c = *cache_;
    const auto k = static_cast<uint32_t>(jc_);
    if (c.frame_[k].site != frame_.site) return; // another frame at this SP: look further out
    const uint64_t* w = c.where_ + 6 * static_cast<size_t>(k);
    for (int i = 0; i < 6; ++i)
        if ((c.needs_[k] >> i & 1u) && reinterpret_cast<uint64_t*>(w[i]) != where_[i]) return;
    if (!c.words_hold(c.first_word_[k + 1])) {
        jc_ = -1; // the stack outward changed: no frame further out can hold either
        return;
    }
    met_ = true;
    c.misses_ = c.skip_ = 0;
    cached_ = k + 1;
    for (int i = 0; i < 6; ++i) {
        jw_old_[i] = reinterpret_cast<uint64_t*>(w[i]);
        jw_new_[i] = where_[i];
    }
    if (recording_) {
        // The frames kept keep their save slots as this walk finds them: a register no frame
        // from k outward saved is still where this walk found it at frame k (the stub's slot of
        // this walk, not of the walk that recorded them). The cache's frames then all describe
        // one walk, which the next junction relies on.
        for (int i = 0; i < 6; ++i) {
            if (jw_old_[i] == jw_new_[i]) continue;
            const auto old_slot = reinterpret_cast<uint64_t>(jw_old_[i]);
            for (uint32_t j = k + 1; j-- > 0 && c.where_[6 * static_cast<size_t>(j) + i] == old_slot;)
                c.where_[6 * static_cast<size_t>(j) + i] = reinterpret_cast<uint64_t>(jw_new_[i]);
        }
        finalize(true);
    }
    start_replay(k);
}

void Walker::start_replay(uint32_t k) noexcept {
    replaying_ = true;
    by_rule_ = false; // replayed frames are next_slow()'s
    replay_hi_ = k;
    replay_depth_ = frame_.depth;
    replay_seek(k);
}

void Walker::cache_stop() noexcept {
    if (!recording_) return;
    finalize(false);
    by_rule_ = valid_ && !on_cursor_ && !replaying_;
}

// A recording walk's step from a frame with an exact rule: Walker::rule_step, then the frame it
// reached is appended. Anything rule_step leaves to the slow path is fast_advance's (which
// appends too, or stops recording where libunwind takes over).
bool Walker::record_step() noexcept {
    WalkFrame f = frame_;
    if (!rule_step(index_->hot(), f)) return false;
    frame_ = f;
    append_frame(f);
    return true;
}

WalkFrame Walker::replay_finish() noexcept {
    replay_seek(0);
    next_slow(); // steps on from the cache's outermost frame, as the recorded walk did
    return frame_;
}

// Cache frame k, with its save slots: a slot the frame inherited from above the junction (equal
// to the junction's in the cache) is the one this walk found there.
void Walker::replay_seek(uint32_t k) noexcept {
    const WalkCache& c = *cache_;
    replay_pos_ = k;
    frame_.sp = c.frame_[k].sp;
    frame_.site = c.frame_[k].site;
    frame_.return_address = frame_.site->return_address();
    frame_.depth = replay_depth_ + (replay_hi_ - k);
    const uint64_t* w = c.where_ + 6 * static_cast<size_t>(k);
    for (int i = 0; i < 6; ++i) {
        auto* slot = reinterpret_cast<uint64_t*>(w[i]);
        where_[i] = slot == jw_old_[i] ? jw_new_[i] : slot;
    }
    in_context_ = 0; // every register of a frame reached by rule from the stub is in stack memory
}

} // namespace gcwalk
