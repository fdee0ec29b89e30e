// Root encoding: a statepoint record's locations as RootLoc slots, checked for relocatability.
#include "root_encoding.hpp"

#include <gcwalk/detail/format.hpp>

#include <algorithm>
#include <cstring>
#include <iterator>

namespace gcwalk {

namespace {

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
    case LocationKind::ConstantIndex: out->push_back(RootLoc{0}); return {};
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

Status RootEncoder::add_pair(const RecordView& rec, uint16_t bi, const RecordWhere& where,
                             uint32_t k) {
    const Location b = rec.location(bi);
    const Location d = rec.location(static_cast<uint16_t>(bi + 1));
    if (never_moves(b.kind) || never_moves(d.kind)) return {};
    if (auto st = slots_of(b, where, "pair", k, &base_slots_); !st) return st;
    if (auto st = slots_of(d, where, "pair", k, &derived_slots_); !st) return st;
    if (base_slots_.size() != derived_slots_.size())
        return Error{
            where("pair " + std::to_string(k) + ": base and derived locations differ in size")};
    for (size_t i = 0; i < base_slots_.size(); ++i)
        pairs_.push_back({base_slots_[i], derived_slots_[i]});
    return {};
}

Status RootEncoder::add_gc_allocas(const RecordView& rec, const StatepointLayout& sp,
                                   const RecordWhere& where) {
    for (uint32_t k = 0; k < sp.num_gc_allocas; ++k) {
        Location a = rec.location(static_cast<uint16_t>(sp.first_gc_alloca + k));
        if (auto st = slots_of(a, where, "gc alloca", k, &base_slots_); !st) return st;
        for (RootLoc slot : base_slots_)
            if (slot.kind() != RootLoc::kNone) pairs_.push_back({slot, slot});
    }
    return {};
}

Status RootEncoder::too_many(const RecordWhere& where) {
    return Error{where("more than 65535 root slots")};
}

} // namespace gcwalk
