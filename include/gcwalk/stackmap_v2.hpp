// The flat stack map format "v2" of the July 2015 llvm-dev proposal (FrameRecords with function
// size, frame registers and index-linked tables): an owned in-memory model, its reader and
// writer, and the conversion from the version 3 blobs LLVM emits. docs/FORMATS.md gives the byte
// layout, the source followed and every decision taken where the proposal is silent.
//
// This is not LLVM 4's stack map version 2 (a v3 predecessor that gcwalk does not read).
//
//   auto v2 = gcwalk::v2_from_v3(*blobs, infos);      // what LLVM emitted, as v2
//   auto bytes = gcwalk::write_v2(*v2);               // Expected<std::vector<uint8_t>>
//   auto back = gcwalk::parse_v2(*bytes, "a.v2");     // == *v2
#pragma once

#include <gcwalk/expected.hpp>
#include <gcwalk/frame_rule.hpp>
#include <gcwalk/stackmap.hpp>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace gcwalk {

// V2FrameRecord::flags (bit i = the proposal's i-th flag).
enum V2FrameFlags : uint16_t {
    kV2HasFrame = 1u << 0,              // the frame is addressed from a frame base register (rbp)
    kV2HasVariableSizeAlloca = 1u << 1, // dynamic alloca: stack size is not constant
    kV2HasStackRealignment = 1u << 2,   // the frame realigns the stack
    kV2HasLiveOutInfo = 1u << 3,        // some record of this function has live-outs
};
inline constexpr uint16_t kV2FrameFlagsMask = 0xf;
// V2FrameRegister::flags and V2Record::flags.
enum : uint8_t { kV2IsSpilled = 1u << 0 }; // frame register saved in the frame
enum : uint8_t { kV2RecordHasLiveOutInfo = 1u << 0 };

// The v2 stack size is 32 bits; UINT32_MAX marks a dynamic frame (v3: UINT64_MAX).
inline constexpr uint32_t kV2DynamicStackSize = UINT32_MAX;

struct V2FrameRecord {
    uint64_t function_address;    // as in the v3 function entry (0 in a .o)
    uint32_t function_size;       // bytes; 0 when unknown
    uint32_t stack_size;          // bytes; kV2DynamicStackSize for dynamic frames
    uint16_t flags;               // V2FrameFlags
    uint16_t frame_base_reg;      // DWARF number of the register the frame is addressed from
    uint16_t num_frame_registers; // FrameRegisters [frame_register_index, + num)
    uint16_t frame_register_index;
    uint16_t num_records; // StackMapRecords [record_index, + num)
    uint16_t record_index;
    bool operator==(const V2FrameRecord&) const = default;
};

// Where a callee-saved register of the frame is saved.
struct V2FrameRegister {
    uint16_t dwarf_reg;
    int16_t offset; // bytes, from the frame base register
    uint8_t size;   // bytes
    uint8_t flags;  // kV2IsSpilled
    bool operator==(const V2FrameRegister&) const = default;
};

struct V2Record {
    uint64_t id;
    uint32_t instruction_offset; // bytes from the function start to the return address
    uint8_t call_size;           // bytes of the call instruction; 0 when unknown
    uint8_t flags;               // kV2RecordHasLiveOutInfo
    uint16_t num_locations;      // Locations [location_index, + num)
    uint16_t location_index;
    uint16_t num_live_outs; // LiveOuts [live_out_index, + num)
    uint16_t live_out_index;
    bool operator==(const V2Record&) const = default;
};

// A v2 location has no size field (the proposal dropped it); see docs/FORMATS.md.
struct V2Location {
    LocationKind kind;
    uint8_t flags; // the proposal's "reserved (location flags)": 0
    uint16_t dwarf_reg;
    int32_t offset; // as in v3: offset, small constant or constant index
    bool operator==(const V2Location&) const = default;
};

struct V2LiveOut {
    uint16_t dwarf_reg;
    uint8_t size; // bytes
    bool operator==(const V2LiveOut&) const = default;
};

// One v2 blob. Tables are linked by index; every entry of the last four tables is referenced.
struct StackMapV2 {
    std::vector<uint64_t> constants;
    std::vector<V2FrameRecord> frames;
    std::vector<V2FrameRegister> frame_registers;
    std::vector<V2Record> records;
    std::vector<V2Location> locations;
    std::vector<V2LiveOut> live_outs;
    bool operator==(const StackMapV2&) const = default;
};

// Parses and validates one v2 blob that fills `bytes` exactly. Errors name the source, the blob
// (always 0) and the byte offset.
Expected<StackMapV2> parse_v2(std::span<const uint8_t> bytes, std::string_view source = {});

// Serialises `model`. Fails if the model cannot be written so that parse_v2 reads it back equal
// (an index out of range, an unreferenced table entry, a bad kind, ...).
Expected<std::vector<uint8_t>> write_v2(const StackMapV2& model);

// What v3 does not say, per function entry: the caller knows it from symbols, CFI or its JIT.
struct V2FunctionInfo {
    uint32_t function_size = 0;
    uint16_t flags = 0; // kV2HasFrame, kV2HasVariableSizeAlloca, kV2HasStackRealignment
    uint16_t frame_base_reg = kDwarfRsp;
    std::vector<V2FrameRegister> frame_registers;
    std::vector<uint8_t> call_sizes; // per record of the function, in order; missing ones are 0
};

// Converts v3 blobs into one v2 blob: functions of all blobs in order, constants concatenated
// (ConstantIndex offsets rebased). `functions[i]` describes the i-th function entry counted across
// all blobs; missing entries take the defaults. kV2HasLiveOutInfo is computed from the records.
// Fails if a count exceeds the v2 field widths (e.g. more than 65535 locations in total).
Expected<StackMapV2> v2_from_v3(const std::vector<StackMapBlob>& blobs,
                                std::span<const V2FunctionInfo> functions);

} // namespace gcwalk
