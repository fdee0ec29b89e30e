// How a frame at one call site reaches its caller (the CFA rule and where each callee-saved
// register was saved), and the x86-64 DWARF register numbers the stack map and CFI formats use.
// Part of the formats layer: `.eh_frame` evaluation produces these, the index stores them.
#pragma once

#include <cstdint>

namespace gcwalk {

// x86-64 DWARF register numbers (System V psABI): the numbering of stack map locations, CFI and
// libunwind alike.
inline constexpr uint8_t kDwarfRax = 0, kDwarfRdx = 1, kDwarfRcx = 2, kDwarfRbx = 3, kDwarfRsi = 4,
                         kDwarfRdi = 5, kDwarfRbp = 6, kDwarfRsp = 7, kDwarfR12 = 12,
                         kDwarfR13 = 13, kDwarfR14 = 14, kDwarfR15 = 15, kDwarfReturnAddress = 16;

// The frame at one call site. Exact (from CFI) when the function has kFrameHasRule; otherwise
// derived from the stack size (CFA = RSP + stack size + 8, saved registers unknown), and
// cfa_reg = 0xff when even that is unknown (dynamic frames without CFI).
// CFA = value of cfa_reg (kDwarfRsp or kDwarfRbp) + cfa_offset; the return address is at CFA - 8.
// Rules are deduplicated: call sites share them.
// saved[i] is the offset from the CFA of the slot where callee-saved register
// kCalleeSaved[i] (rbx, rbp, r12, r13, r14, r15) was saved, or 0 when this frame did not save it.
// flags: kRuleFromCfi when the rule came from CFI (exact: the fast walker may step with it alone);
// a rule derived from the stack size has no saved registers and is not used for stepping.
struct FrameRule {
    int32_t cfa_offset;
    uint8_t cfa_reg;
    uint8_t flags;
    int16_t saved[6];
};
inline constexpr uint8_t kRuleFromCfi = 1;
inline constexpr uint8_t kCalleeSaved[6] = {kDwarfRbx, kDwarfRbp, kDwarfR12,
                                            kDwarfR13, kDwarfR14, kDwarfR15};
// Indexes into FrameRule::saved and kCalleeSaved.
inline constexpr unsigned kSavedRbx = 0, kSavedRbp = 1;

} // namespace gcwalk
