// Internal to the index layer: a statepoint record's roots in the index's compact encoding
// (RootLoc, RootPair in frame_index.hpp), checked against what a collector can relocate.
#pragma once

#include <gcwalk/expected.hpp>
#include <gcwalk/frame_index.hpp>
#include <gcwalk/stackmap.hpp>
#include <gcwalk/statepoint.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace gcwalk {

// Where a record is, for messages.
struct RecordWhere {
    const ImageStackMaps& img;
    uint32_t blob, record;
    uint64_t ra;
    std::string operator()(const std::string& what) const;
};

// Turns statepoint records into root slots. Keeps its scratch between records, so that the
// common record allocates nothing; messages are made only when something is wrong.
// The common path (every pair two stack slots, no gc allocas) is forced inline here (GCC
// otherwise calls it): the builder runs it for every record, and a call per record returning a
// Status is a measurable part of a build (docs/PERFORMANCE.md). The rest is in root_encoding.cpp.
class RootEncoder {
  public:
    // The roots of statepoint record `rec` (laid out as `sp`): its (base, derived) pairs and gc
    // allocas, one pair per 8-byte slot, bases first, each exact pair once. Valid until the next
    // call. Fails, naming `where`, on a root no collector could relocate.
    [[gnu::always_inline]] Status encode(const RecordView& rec, const StatepointLayout& sp,
                                         const RecordWhere& where) {
        pairs_.clear();
        for (uint32_t k = 0; k < sp.num_pairs; ++k) {
            const auto bi = static_cast<uint16_t>(sp.first_pair + 2 * k);
            if (RootLoc bs, ds; stack_slot(rec, bi, &bs) && stack_slot(rec, bi + 1, &ds)) {
                pairs_.push_back({bs, ds});
                continue;
            }
            if (auto st = add_pair(rec, bi, where, k); !st) return st;
        }
        if (sp.num_gc_allocas > 0)
            if (auto st = add_gc_allocas(rec, sp, where); !st) return st;
        sort_unique();
        if (pairs_.size() > 0xffff) return too_many(where);
        return {};
    }
    std::span<const RootPair> pairs() const noexcept { return pairs_; }

  private:
    // The common root: location i of `rec` is one 8-byte Indirect slot in encodable range
    // (nearly every gc pointer LLVM emits); then *out is its RootLoc, as slots_of() would give it.
    // It reads the fields it needs from the location's bytes (v3::LocationLayout) instead of
    // calling RecordView::location: GCC builds a Location on the stack and reloads kind and size
    // as one word, a store-forwarding stall on every pair of a large build (docs/PERFORMANCE.md).
    [[gnu::always_inline]] static bool stack_slot(const RecordView& rec, uint32_t i,
                                                  RootLoc* out) noexcept {
        using L = v3::LocationLayout;
        const uint8_t* q = rec.location_data(static_cast<uint16_t>(i));
        uint16_t size, reg;
        int32_t off;
        std::memcpy(&size, q + L::size, sizeof size);
        std::memcpy(&reg, q + L::dwarf_reg, sizeof reg);
        std::memcpy(&off, q + L::offset, sizeof off);
        if (q[L::kind] != static_cast<uint8_t>(LocationKind::Indirect) || size != 8 ||
            off < RootLoc::kMinOffset || off > RootLoc::kMaxOffset)
            return false;
        *out = RootLoc::make(RootLoc::kMemory, reg, off);
        return true;
    }

    // Each slot once: drops exact duplicate pairs (a base also appears as its own pair). Bases
    // (base == derived) first, so relocation treats them before the derived slots.
    [[gnu::always_inline]] void sort_unique() {
        if (pairs_.size() <= 1) return;
        std::sort(pairs_.begin(), pairs_.end(), [](const RootPair& x, const RootPair& y) {
            bool xb = x.base.bits == x.derived.bits, yb = y.base.bits == y.derived.bits;
            if (xb != yb) return xb;
            return x.base.bits != y.base.bits ? x.base.bits < y.base.bits
                                              : x.derived.bits < y.derived.bits;
        });
        auto same = [](const RootPair& x, const RootPair& y) {
            return x.base.bits == y.base.bits && x.derived.bits == y.derived.bits;
        };
        pairs_.erase(std::unique(pairs_.begin(), pairs_.end(), same), pairs_.end());
    }

    // Pair k (locations bi and bi + 1) when it is not two stack slots.
    Status add_pair(const RecordView& rec, uint16_t bi, const RecordWhere& where, uint32_t k);
    Status add_gc_allocas(const RecordView& rec, const StatepointLayout& sp,
                          const RecordWhere& where);
    static Status too_many(const RecordWhere& where);
    Status slots_of(const Location& loc, const RecordWhere& where, const char* side, uint32_t k,
                    std::vector<RootLoc>* out);

    std::vector<RootPair> pairs_;
    std::vector<RootLoc> base_slots_, derived_slots_; // scratch of slots_of(), per pair
};

} // namespace gcwalk
