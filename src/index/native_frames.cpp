// Native frames' CFI rules by return address, evaluated on first use and kept in a lock-free table.
#include <gcwalk/detail/native_frames.hpp>

#include <algorithm>

namespace gcwalk {

NativeFrames::NativeFrames(std::vector<Image> images)
    : images_(std::move(images)), slots_(new Slot[kSlots]) {
    for (uint32_t i = 0; i < images_.size(); ++i)
        for (auto [lo, hi] : images_[i].text)
            if (lo < hi) ranges_.push_back({lo, hi, i});
    std::sort(ranges_.begin(), ranges_.end(),
              [](const Range& a, const Range& b) { return a.lo < b.lo; });
    for (uint32_t s = 0; s < kSlots; ++s) {
        slots_[s].key.store(0, std::memory_order_relaxed);
        slots_[s].rule = FrameRule{};
        slots_[s].kind = Kind::Libunwind;
    }
}

NativeFrames::Kind NativeFrames::evaluate(uint64_t ra, const FrameIndex& index,
                                          FrameRule* rule) const noexcept {
    const CallSite* site = nullptr;
    const FrameRecord* function = nullptr;
    if (index.classify(ra, &site, &function) != Lookup::NotManaged) return Kind::Libunwind;
    // The image whose code holds the call (ra - 1: a call that ends its function still counts).
    const uint64_t pc = ra - 1;
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), pc,
                               [](uint64_t a, const Range& r) { return a < r.lo; });
    if (it == ranges_.begin() || pc >= (it - 1)->hi) return Kind::Libunwind;
    switch (images_[(it - 1)->image].table.native_rule(ra, rule)) {
    case EhFrameTable::Result::Rule: return Kind::Rule;
    case EhFrameTable::Result::Outermost: return Kind::Outermost;
    case EhFrameTable::Result::Refused: return Kind::Libunwind;
    }
    return Kind::Libunwind;
}

NativeFrames::Kind NativeFrames::lookup(uint64_t ra, const FrameIndex& index,
                                        FrameRule* rule) const noexcept {
    if (ra == 0 || (ra & kFilling)) return Kind::Libunwind;
    uint64_t s = FrameIndex::slot_of(ra, kSlots);
    for (uint32_t probe = 0; probe < kProbes; ++probe, s = (s + 1) % kSlots) {
        Slot& slot = slots_[s];
        uint64_t key = slot.key.load(std::memory_order_acquire);
        if (key == ra) {
            *rule = slot.rule;
            return slot.kind;
        }
        if (key == 0) {
            if (!slot.key.compare_exchange_strong(key, ra | kFilling, std::memory_order_acquire,
                                                  std::memory_order_acquire)) {
                if (key == ra) { // another walker filled it meanwhile
                    *rule = slot.rule;
                    return slot.kind;
                }
                if (key != (ra | kFilling)) continue; // taken by another address: probe on
                return evaluate(ra, index, rule);     // being filled by another walker
            }
            const Kind kind = evaluate(ra, index, rule);
            slot.rule = *rule;
            slot.kind = kind;
            slot.key.store(ra, std::memory_order_release);
            return kind;
        }
        if (key == (ra | kFilling)) return evaluate(ra, index, rule);
    }
    return evaluate(ra, index, rule); // the probe window is full: answer without keeping it
}

uint64_t NativeFrames::cached() const noexcept {
    uint64_t n = 0;
    for (uint32_t s = 0; s < kSlots; ++s) {
        const uint64_t key = slots_[s].key.load(std::memory_order_relaxed);
        n += key != 0 && !(key & kFilling);
    }
    return n;
}

} // namespace gcwalk
