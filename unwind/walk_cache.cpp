// WalkCache: the fast walker's memory of a thread's last walk (include/gcwalk/walker.hpp).
// This file holds the storage, the re-check at the start of a walk, the recording of the steps
// (a recording walk steps in next_slow(), so the inline rule step of other walks stays as it is),
// and the replay of the frames that still hold.
#include <gcwalk/walker.hpp>

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
    std::unique_ptr<uint32_t[]> first_word(new uint32_t[n + 1]());
    std::unique_ptr<uint32_t[]> first_slot(new uint32_t[n + 1]());
    std::unique_ptr<Run[]> run(new Run[2 * n]());
    std::unique_ptr<uint64_t[]> value(new uint64_t[2 * n]());
    std::unique_ptr<uintptr_t[]> slot(new uintptr_t[slot_capacity_]());
    frame_ = frame.release();
    where_ = where.release();
    first_word_ = first_word.release();
    first_slot_ = first_slot.release();
    run_ = run.release();
    value_ = value.release();
    slot_ = slot.release();
}

WalkCache::~WalkCache() {
    delete[] frame_;
    delete[] where_;
    delete[] first_word_;
    delete[] first_slot_;
    delete[] run_;
    delete[] value_;
    delete[] slot_;
}

// Appends the check "the word at `address` holds `value`": to the last run when it goes on at the
// same stride (the return addresses of frames of equal size), else as a new run.
inline void WalkCache::add_check(const uint64_t* address, uint64_t value) noexcept {
    WalkCache& c = *this;
    WalkCache::Run* last = c.runs_ != 0 ? &c.run_[c.runs_ - 1] : nullptr;
    if (last && address > last->address) {
        const uint64_t* next = last->address + static_cast<size_t>(last->words) * last->stride;
        const auto gap = static_cast<uint64_t>(address - last->address);
        if (last->words == 1 && gap <= WalkCache::kMaxStride) {
            last->stride = static_cast<uint32_t>(gap);
            last->words = 2;
            c.value_[c.values_++] = value;
            return;
        }
        if (address == next) {
            ++last->words;
            c.value_[c.values_++] = value;
            return;
        }
    }
    c.run_[c.runs_++] = {address, 1, 1, c.values_};
    c.value_[c.values_++] = value;
}

namespace {

int callee_saved_index(uint32_t dwarf_reg) noexcept {
    for (int i = 0; i < 6; ++i)
        if (kCalleeSaved[i] == dwarf_reg) return i;
    return -1;
}

} // namespace

// Frame k's where_ (its registers' save slots), checked words and root slots. The words: its
// return address (the step into it read it), and when its own rule takes the CFA from a register
// (RBP), that register's save slot, which the step out of it reads (checked as part of frame k:
// a change there keeps frame k from being replayed, one frame early, never late). False when
// the root slots do not fit.
__attribute__((always_inline)) inline bool Walker::finalize_frame(uint32_t k, uint64_t* const* where) noexcept {
    WalkCache& c = *cache_;
    const FrameIndex::Hot ix = index_->hot();
    const CallSite& site = *c.frame_[k].site;
    const uint64_t sp = c.frame_[k].sp;
    const uint32_t npairs = site.num_roots();
    if (npairs > c.slot_capacity_ - c.slots_) [[unlikely]] return false;
    uint64_t** const w = reinterpret_cast<uint64_t**>(c.where_ + 6 * static_cast<size_t>(k));
    for (int i = 0; i < 6; ++i) { // word by word: a 16-byte load of `where`, just stored 8 bytes
        uint64_t* v = where[i];     // at a time, would wait for the stores (no forwarding)
        asm("" : "+r"(v));
        w[i] = v;
    }

    // Root slots: all [RSP + offset] (the usual case), or one entry saying "resolve frame k".
    uintptr_t* const slots = c.slot_ + c.slots_;
    const RootPair* pair = ix.root_pool + site.first_root;
    uint32_t other = 0;
    for (uint32_t i = 0; i < npairs; ++i) {
        const RootLoc b = pair[i].base;
        other |= b.is_sp_slot() ? 0u : 1u;
        slots[i] = static_cast<uintptr_t>(sp + static_cast<int64_t>(b.offset()));
    }
    if (other) [[unlikely]] {
        slots[0] = static_cast<uintptr_t>(k) << 1 | 1u;
        c.slots_ += 1;
    } else {
        c.slots_ += npairs;
    }
    c.first_slot_[k + 1] = c.slots_;

    // Checked words, in address order.
    const FrameRule& rule = ix.rule(site);
    const uint64_t* base_at = nullptr;
    if (rule.cfa_reg != 7) [[unlikely]]
        if (const int i = callee_saved_index(rule.cfa_reg); i >= 0) base_at = where[i];
    if (k != 0) [[likely]] {
        const auto* ra_at = reinterpret_cast<const uint64_t*>(sp - 8);
        if (base_at && base_at < ra_at) c.add_check(base_at, *base_at);
        c.add_check(ra_at, site.return_address());
        if (base_at && base_at > ra_at) c.add_check(base_at, *base_at);
    } else if (base_at) {
        c.add_check(base_at, *base_at);
    }
    c.first_word_[k + 1] = c.values_;
    return true;
}

// Finalises the frames appended since the last call: where_ of frame k is frame k - 1's, moved
// by frame k - 1's rule (its CFA is frame k's SP), as the rule step computed it.
void Walker::finalize() noexcept {
    WalkCache& c = *cache_;
    if (fin_n_ == 0 || fin_n_ >= rec_n_) return;
    const FrameIndex::Hot ix = index_->hot();
    uint64_t* where[6];
    for (int i = 0; i < 6; ++i) where[i] = reinterpret_cast<uint64_t*>(c.where_[6 * static_cast<size_t>(fin_n_ - 1) + i]);
    uint32_t k = fin_n_;
    for (; k < rec_n_; ++k) {
        const FrameRule& r = ix.rule(*c.frame_[k - 1].site);
        const uint64_t cfa = c.frame_[k].sp;
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i)
            if (r.saved[i] != 0) where[i] = reinterpret_cast<uint64_t*>(cfa + static_cast<int64_t>(r.saved[i]));
        if (!finalize_frame(k, where)) break; // no room for its roots: the cache ends before it
    }
    rec_n_ = fin_n_ = k;
}

void Walker::cache_stop() noexcept {
    if (!recording_) return;
    finalize();
    cache_->frames_ = rec_n_;
    recording_ = false;
    by_rule_ = valid_ && !on_cursor_;
}

// The walker stands on the stub's caller, frame 0, reached by rule (its site has an exact rule).
// When the cache was recorded from the same start against the same index with the same options,
// its frames hold up to the first checked word that changed; those are replayed. Recording goes
// on after them (or from frame 0 when nothing holds).
void Walker::cache_start() noexcept {
    WalkCache& c = *cache_;
    uint32_t holds = 0;
    if (c.frames_ > 0 && c.serial_ == index_->serial() && c.stop_sp_ == options_.stop_sp &&
        c.precise_ == options_.precise && c.caller_sp_ == ctx_->caller_sp &&
        c.caller_ra_ == ctx_->caller_return_address) {
        // The first word that changed: `bad` (all of them hold when it is c.values_).
        uint32_t bad = c.values_, r = 0;
        for (; r < c.runs_; ++r) {
            const WalkCache::Run& run = c.run_[r];
            const uint64_t* expect = c.value_ + run.first;
            const uint64_t* word = run.address;
            uint64_t diff = 0;
            if (run.stride == 1) { // adjacent words: four independent accumulators
                uint64_t d1 = 0, d2 = 0, d3 = 0;
                uint32_t w = 0;
                for (; w + 4 <= run.words; w += 4) {
                    diff |= word[w] ^ expect[w];
                    d1 |= word[w + 1] ^ expect[w + 1];
                    d2 |= word[w + 2] ^ expect[w + 2];
                    d3 |= word[w + 3] ^ expect[w + 3];
                }
                for (; w < run.words; ++w) diff |= word[w] ^ expect[w];
                diff |= d1 | d2 | d3;
            } else {
                for (uint32_t w = 0; w < run.words; ++w, word += run.stride) diff |= *word ^ expect[w];
            }
            if (diff != 0) [[unlikely]] {
                uint32_t w = 0;
                while (run.address[static_cast<size_t>(w) * run.stride] == expect[w]) ++w;
                bad = run.first + w;
                break;
            }
        }
        // Frame j holds when every word of the steps into frames 1..j did: first_word_[j + 1] <= bad.
        const uint32_t* begin = c.first_word_ + 1;
        holds = static_cast<uint32_t>(std::upper_bound(begin, begin + c.frames_, bad) - begin);
        if (holds < c.frames_) {
            // Recording resumes after frame holds - 1: drop what the later frames recorded.
            const uint32_t keep = c.first_word_[holds];
            while (r > 0 && c.run_[r].first >= keep) --r;
            c.runs_ = c.run_[r].first < keep ? r + 1 : r;
            if (c.runs_ != 0) c.run_[c.runs_ - 1].words = keep - c.run_[c.runs_ - 1].first;
            c.values_ = keep;
            c.slots_ = c.first_slot_[holds];
        }
    }
    if (holds == 0 && c.skip_ != 0) { // backing off: a walk that records costs about twice one
        --c.skip_;                    // that does not, and this stack keeps changing at its top
        return;
    }
    recording_ = true;
    by_rule_ = false; // replayed frames and recorded steps are next_slow()'s
    if (holds > 0) {
        c.misses_ = 0;
        // Frame 0 is the current frame already, with where_ as recorded (the stub's slots).
        replay_n_ = holds;
        replay_pos_ = 0;
        cached_ = holds;
        rec_n_ = fin_n_ = holds; // recording resumes after the last frame that holds
        return;
    }
    c.misses_ = c.misses_ < 31 ? c.misses_ + 1 : 31;
    c.skip_ = std::min((uint32_t{1} << (c.misses_ - 1)) - 1, c.max_skip_);
    c.frames_ = 0;
    c.serial_ = index_->serial();
    c.stop_sp_ = options_.stop_sp;
    c.precise_ = options_.precise;
    c.caller_sp_ = ctx_->caller_sp;
    c.caller_ra_ = ctx_->caller_return_address;
    c.first_word_[0] = 0;
    c.first_slot_[0] = 0;
    c.runs_ = c.values_ = c.slots_ = 0;
    c.frame_[0] = {frame_.sp, frame_.site};
    if (!finalize_frame(0, where_)) { // the stub's slots; its roots do not fit: no recording
        recording_ = false;
        by_rule_ = !on_cursor_;
        return;
    }
    rec_n_ = fin_n_ = 1;
}

// A recording walk's step from a frame with an exact rule: Walker::rule_step, then the frame it
// reached is recorded. Anything rule_step leaves to the slow path is fast_advance's (which records
// too, or stops recording where libunwind takes over).
bool Walker::record_step() noexcept {
    WalkFrame f = frame_;
    if (!rule_step(index_->hot(), f)) return false;
    frame_ = f;
    append_frame(f);
    return true;
}

WalkFrame Walker::replay_finish() noexcept {
    replay_seek(replay_n_ - 1);
    next_slow(); // steps on from the last cached frame, recording
    return frame_;
}

void Walker::replay_seek(uint32_t i) noexcept {
    const WalkCache& c = *cache_;
    replay_pos_ = i;
    frame_.sp = c.frame_[i].sp;
    frame_.site = c.frame_[i].site;
    frame_.return_address = frame_.site->return_address();
    frame_.depth = i + 1; // the stub's frame is 0
    std::memcpy(where_, c.where_ + 6 * static_cast<size_t>(i), sizeof where_);
    in_context_ = 0; // every register of a frame reached by rule from the stub is in stack memory
}

} // namespace gcwalk
