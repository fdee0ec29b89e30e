// Valid stack map v3 sections of any size, generated in memory for the index and parse
// benchmarks: compiling a million call sites with llc would take minutes, and the layout is the
// one LLVM 14 writes (checked by parsing every generated section before it is timed).
#pragma once

#include <gcwalk/frame_rule.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

namespace gcwalk::bench {

// `records` statepoint records in functions of `per_function` records each; every record has the
// three leading constants (calling convention, flags, 0 deopt values) and `pairs` (base, derived)
// pairs of Indirect [RSP + off] slots, as llc emits for GC pointers spilled across a call.
// Function f sits at kBase + f * 4096; record r of a function at offset 16 + 32 * r.
inline constexpr uint64_t kBase = 0x10000000;
inline std::vector<uint8_t> make_section(uint32_t records, uint32_t per_function = 16,
                                         uint16_t pairs = 2) {
    std::vector<uint8_t> out;
    auto put = [&](const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        out.insert(out.end(), b, b + n);
    };
    auto u8 = [&](uint8_t v) { put(&v, 1); };
    auto u16 = [&](uint16_t v) { put(&v, 2); };
    auto u32 = [&](uint32_t v) { put(&v, 4); };
    auto u64 = [&](uint64_t v) { put(&v, 8); };
    auto align8 = [&] {
        while (out.size() % 8) out.push_back(0);
    };
    const uint32_t functions = (records + per_function - 1) / per_function;
    u8(3), u8(0), u16(0);                 // version 3, reserved
    u32(functions), u32(0), u32(records); // functions, constants, records
    for (uint32_t f = 0; f < functions; ++f) {
        const uint32_t n = f + 1 < functions ? per_function : records - f * per_function;
        u64(kBase + uint64_t{f} * 4096), u64(64), u64(n); // address, stack size, record count
    }
    constexpr uint8_t kIndirect = 3, kConstant = 4; // LocationKind, without the parser's header
    auto location = [&](uint8_t kind, uint16_t reg, int32_t off) {
        u8(kind), u8(0), u16(8), u16(reg), u16(0),
            put(&off, 4); // kind, reserved, size, reg, reserved, offset
    };
    for (uint32_t f = 0; f < functions; ++f) {
        const uint32_t n = f + 1 < functions ? per_function : records - f * per_function;
        for (uint32_t r = 0; r < n; ++r) {
            u64(0xABCDEF00), u32(16 + 32 * r), u16(0); // id, instruction offset, flags
            u16(static_cast<uint16_t>(3 + 2 * pairs)); // locations
            location(kConstant, 0, 0), location(kConstant, 0, 0),
                location(kConstant, 0, 0); // cc, flags, 0 deopt values
            for (uint16_t p = 0; p < pairs; ++p) {
                location(kIndirect, kDwarfRsp, 8 * p),
                    location(kIndirect, kDwarfRsp, 8 * p); // base and derived: the same slot
            }
            align8();
            u16(0), u16(0); // padding, no live-outs
            align8();
        }
    }
    return out;
}

// Reads every cache line of a generated section once, before it is timed. The first read of a
// section just written by make_section is a cost of this fixture (a real image's section is read
// in by the loader) that only the one-iteration 1M runs would pay, since the smaller sizes time
// many iterations over a section already read (figures: docs/PERFORMANCE.md).
inline uint64_t read_once(const std::vector<uint8_t>& section) {
    uint64_t sum = 0;
    for (size_t i = 0; i < section.size(); i += 64) sum += section[i];
    return sum;
}

} // namespace gcwalk::bench
