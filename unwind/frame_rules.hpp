// Applying a FrameRule to a frame (internal to unwind/: the fast walker's slow and native steps,
// and the walk cache's finalising, which must compute exactly what those steps computed).
#pragma once

#include <gcwalk/detail/walk_state.hpp>
#include <gcwalk/frame_index.hpp>

#include <cstdint>

namespace gcwalk {

// kCalleeSaved's index of DWARF register `dwarf_reg`, or -1 when it is not callee-saved.
inline int callee_saved_index(uint32_t dwarf_reg) noexcept {
    for (unsigned i = 0; i < detail::kNumCalleeSaved; ++i)
        if (kCalleeSaved[i] == dwarf_reg) return static_cast<int>(i);
    return -1;
}

// The CFA of a frame whose SP is `sp` and whose callee-saved registers live at
// where[0..kNumCalleeSaved): false when the rule's base register is not callee-saved or its save
// slot is unknown.
inline bool rule_cfa(const FrameRule& r, uint64_t sp, uint64_t* const* where,
                     uint64_t* cfa) noexcept {
    uint64_t base = sp;
    if (r.cfa_reg != kDwarfRsp) {
        const int i = callee_saved_index(r.cfa_reg);
        if (i < 0 || !where[i]) return false;
        base = *where[i];
    }
    *cfa = base + static_cast<int64_t>(r.cfa_offset);
    return true;
}

// The caller's save slots: those the rule saved move to CFA + offset, the others stay where the
// callee's were. Returns the registers moved (bit i: kCalleeSaved[i]).
inline uint8_t rule_move_saves(const FrameRule& r, uint64_t cfa, uint64_t** where) noexcept {
    uint8_t moved = 0;
    for (unsigned i = 0; i < detail::kNumCalleeSaved; ++i) {
        if (r.saved[i] == 0) continue;
        where[i] = reinterpret_cast<uint64_t*>(cfa + static_cast<int64_t>(r.saved[i]));
        moved |= static_cast<uint8_t>(1u << i);
    }
    return moved;
}

} // namespace gcwalk
