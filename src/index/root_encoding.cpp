// Root encoding: a statepoint record's locations as RootLoc slots, checked for relocatability.
#include "root_encoding.hpp"

#include <gcwalk/detail/format.hpp>

#include <algorithm>
#include <cstring>
#include <iterator>

namespace gcwalk {

namespace {

// The common root: location i of `rec` is one 8-byte Indirect slot in encodable range (nearly
// every gc pointer LLVM emits); then *out is its RootLoc, as slots_of() would give it.
// It reads the fields it needs from the location's bytes (v3::LocationLayout) instead of calling
// RecordView::location: GCC builds a Location on the stack and reloads kind and size as one word,
// a store-forwarding stall on every pair of a large build (docs/PERFORMANCE.md).
bool stack_slot(const RecordView& rec, uint32_t i, RootLoc* out) noexcept {
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

// A pair is a root only when both sides are slots: a derived value whose base is a constant
// (null) or a stack address is not a heap pointer, nor is a stack address itself (a Direct
// location: `gc-live(addrspacecast (alloca ...))`); no collector moves them, so they are left
// out (docs/FORMATS.md, "What a pair means").
bool never_moves(LocationKind kind) noexcept {
    return kind == LocationKind::Direct || kind == LocationKind::Constant ||
           kind == LocationKind::ConstantIndex;
}

} // namespace

std::string RecordWhere::operator()(const std::string& what) const {
    return img.name + ": blob " + std::to_string(blob) + " record " + std::to_string(record) +
           " at " + hex(ra) + ": " + what;
}

// Sets *out to the slots of one location (base or derived side), one per 8 bytes.
Status RootEncoder::slots_of(const Location& loc, const RecordWhere& where, const char* side,
                             uint32_t k, std::vector<RootLoc>* out) {
    auto fail = [&](const std::string& what) {
        return Error{where(std::string(side) + " " + std::to_string(k) + ": " + what)};
    };
    out->clear();
    switch (loc.kind) {
    case LocationKind::Constant:
    case LocationKind::ConstantIndex:
        out->push_back(RootLoc{0});
        return {};
    case LocationKind::Register:
        if (loc.size != 8)
            return fail("register root of " + std::to_string(loc.size) +
                        " bytes (only 8-byte pointers fit a register save slot)");
        // Only a callee-saved register survives the call; anything else is a compiler bug.
        if (std::find(std::begin(kCalleeSaved), std::end(kCalleeSaved), loc.dwarf_reg) ==
            std::end(kCalleeSaved))
            return fail("register root in R#" + std::to_string(loc.dwarf_reg) +
                        ", which is not callee-saved and cannot hold a value across the call");
        out->push_back(RootLoc::make(RootLoc::kRegister, loc.dwarf_reg, 0));
        return {};
    case LocationKind::Indirect:
    case LocationKind::Direct: {
        // Any size the format holds: a vector of N gc pointers spilled whole is N slots.
        if (loc.size == 0 || loc.size % 8 != 0)
            return fail("root location of " + std::to_string(loc.size) +
                        " bytes is not a whole number of pointers");
        for (uint32_t i = 0; i < loc.size / 8u; ++i) {
            int64_t off = int64_t{loc.offset} + 8 * int64_t{i};
            if (off < RootLoc::kMinOffset || off > RootLoc::kMaxOffset)
                return fail("root offset " + std::to_string(off) +
                            " is outside the encodable range of +-16 MiB");
            out->push_back(
                RootLoc::make(RootLoc::kMemory, loc.dwarf_reg, static_cast<int32_t>(off)));
        }
        return {};
    }
    }
    return fail("unknown location kind");
}

Status RootEncoder::encode(const RecordView& rec, const StatepointLayout& sp,
                           const RecordWhere& where) {
    pairs_.clear();
    for (uint32_t k = 0; k < sp.num_pairs; ++k) {
        const auto bi = static_cast<uint16_t>(sp.first_pair + 2 * k),
                   di = static_cast<uint16_t>(bi + 1);
        if (RootLoc bs, ds; stack_slot(rec, bi, &bs) && stack_slot(rec, di, &ds)) {
            pairs_.push_back({bs, ds});
            continue;
        }
        Location b = rec.location(bi);
        Location d = rec.location(di);
        if (never_moves(b.kind) || never_moves(d.kind))
            continue;
        if (auto st = slots_of(b, where, "pair", k, &base_slots_); !st)
            return st;
        if (auto st = slots_of(d, where, "pair", k, &derived_slots_); !st)
            return st;
        if (base_slots_.size() != derived_slots_.size())
            return Error{
                where("pair " + std::to_string(k) + ": base and derived locations differ in size")};
        for (size_t i = 0; i < base_slots_.size(); ++i)
            pairs_.push_back({base_slots_[i], derived_slots_[i]});
    }
    for (uint32_t k = 0; k < sp.num_gc_allocas; ++k) {
        Location a = rec.location(static_cast<uint16_t>(sp.first_gc_alloca + k));
        if (auto st = slots_of(a, where, "gc alloca", k, &base_slots_); !st)
            return st;
        for (RootLoc slot : base_slots_)
            if (slot.kind() != RootLoc::kNone)
                pairs_.push_back({slot, slot});
    }
    sort_unique();
    if (pairs_.size() > 0xffff)
        return Error{where("more than 65535 root slots")};
    return {};
}

// Each slot once: drops exact duplicate pairs (a base also appears as its own pair). Bases
// (base == derived) first, so relocation treats them before the derived slots.
void RootEncoder::sort_unique() {
    if (pairs_.size() <= 1)
        return;
    std::sort(pairs_.begin(), pairs_.end(), [](const RootPair& x, const RootPair& y) {
        bool xb = x.base.bits == x.derived.bits, yb = y.base.bits == y.derived.bits;
        if (xb != yb)
            return xb;
        return x.base.bits != y.base.bits ? x.base.bits < y.base.bits
                                          : x.derived.bits < y.derived.bits;
    });
    auto same = [](const RootPair& x, const RootPair& y) {
        return x.base.bits == y.base.bits && x.derived.bits == y.derived.bits;
    };
    pairs_.erase(std::unique(pairs_.begin(), pairs_.end(), same), pairs_.end());
}

} // namespace gcwalk
