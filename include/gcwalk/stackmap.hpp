// LLVM stack map format version 3 (`.llvm_stackmaps`, LLVM 5 and later): a validated, zero-copy
// view of one blob, and the parser for a section that holds several blobs back to back.
//
// Validation happens once, in StackMapBlob::parse / parse_stackmap_section: every count, size,
// kind, register and padding is checked against the bytes. After that the accessors read without
// checks. The views do not own the bytes: they must outlive the view.
//
//   auto blobs = gcwalk::parse_stackmap_section(bytes, "a.out");
//   if (!blobs) { report(blobs.error().message); }
//   for (const auto& blob : *blobs)
//       for (uint32_t r = 0; r < blob.num_records(); ++r) use(blob.record(r));
#pragma once

#include <gcwalk/expected.hpp>

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace gcwalk {

enum class LocationKind : uint8_t {
    Register = 1,      // the value is in a register
    Direct = 2,        // the value is the address reg + offset (a stack slot's address)
    Indirect = 3,      // the value is stored at [reg + offset]
    Constant = 4,      // the value is the small constant in the offset field
    ConstantIndex = 5, // the value is constants[offset]
};

const char* to_string(LocationKind kind) noexcept;
// The kind with its indefinite article, for messages ("an Indirect").
const char* with_article(LocationKind kind) noexcept;

struct Location {
    LocationKind kind;
    uint16_t size;      // bytes
    uint16_t dwarf_reg; // DWARF register number (x86-64: 0..16)
    int32_t offset;     // Direct/Indirect: byte offset; Constant: the value; ConstantIndex: index
};

struct LiveOut {
    uint16_t dwarf_reg;
    uint8_t size; // bytes
};

struct FunctionEntry {
    uint64_t address; // as stored: 0 in a .o / unrelocated image (the address is in a relocation)
    uint64_t stack_size;   // bytes; UINT64_MAX for dynamic frames (dynamic alloca, realignment)
    uint64_t record_count; // this function's records follow the previous functions' records
};

inline constexpr uint64_t kDynamicStackSize = UINT64_MAX;

// The byte layout of format version 3 (docs/FORMATS.md), written down once: each field's offset
// is the previous field's offset plus that field's size, and `bytes` is where the last one ends.
// The parser, the accessors below and the index builder's fast path all read through these names,
// so a layout change is one edit here.
namespace v3 {
// The blob header: u8 version, u8 reserved[3], u32 counts of functions, constants, records.
struct HeaderLayout {
    static constexpr uint32_t version = 0;
    static constexpr uint32_t reserved = version + 1;
    static constexpr uint32_t num_functions = reserved + 3;
    static constexpr uint32_t num_constants = num_functions + 4;
    static constexpr uint32_t num_records = num_constants + 4;
    static constexpr uint32_t bytes = num_records + 4;
};
// A function entry: u64 address, u64 stack size, u64 record count.
struct FunctionLayout {
    static constexpr uint32_t address = 0;
    static constexpr uint32_t stack_size = address + 8;
    static constexpr uint32_t record_count = stack_size + 8;
    static constexpr uint32_t bytes = record_count + 8;
};
// A constant: one u64.
inline constexpr uint32_t kConstantBytes = 8;
// A record's header, then its locations: u64 id, u32 instruction offset, u16 flags, u16 count.
struct RecordLayout {
    static constexpr uint32_t id = 0;
    static constexpr uint32_t instruction_offset = id + 8;
    static constexpr uint32_t flags = instruction_offset + 4;
    static constexpr uint32_t num_locations = flags + 2;
    static constexpr uint32_t locations = num_locations + 2; // the first location
};
// A location: u8 kind, u8 reserved, u16 size, u16 DWARF register, u16 reserved, i32 offset.
struct LocationLayout {
    static constexpr uint32_t kind = 0;
    static constexpr uint32_t reserved0 = kind + 1;
    static constexpr uint32_t size = reserved0 + 1;
    static constexpr uint32_t dwarf_reg = size + 2;
    static constexpr uint32_t reserved1 = dwarf_reg + 2;
    static constexpr uint32_t offset = reserved1 + 2;
    static constexpr uint32_t bytes = offset + 4;
};
// After the locations, aligned to 8: u16 padding, u16 live-out count, then the live-outs.
struct LiveOutHeaderLayout {
    static constexpr uint32_t padding = 0;
    static constexpr uint32_t num_live_outs = padding + 2;
    static constexpr uint32_t bytes = num_live_outs + 2;
};
// A live-out: u16 DWARF register, u8 reserved, u8 size.
struct LiveOutLayout {
    static constexpr uint32_t dwarf_reg = 0;
    static constexpr uint32_t reserved = dwarf_reg + 2;
    static constexpr uint32_t size = reserved + 1;
    static constexpr uint32_t bytes = size + 1;
};
// The smallest record: a header, no locations, the live-out header, aligned to 8.
inline constexpr uint32_t kMinRecordBytes =
    (RecordLayout::locations + LiveOutHeaderLayout::bytes + 7) & ~7u;
} // namespace v3

// One stack map record. Cheap to copy; points into the blob's bytes.
class RecordView {
  public:
    RecordView() = default;
    RecordView(const uint8_t* p, uint32_t offset_in_blob) : p_(p), offset_(offset_in_blob) {}

    uint64_t id() const noexcept { return read<uint64_t>(v3::RecordLayout::id); }
    uint32_t instruction_offset() const noexcept {
        return read<uint32_t>(v3::RecordLayout::instruction_offset);
    }
    // "reserved" in LLVM's docs
    uint16_t flags() const noexcept { return read<uint16_t>(v3::RecordLayout::flags); }
    uint16_t num_locations() const noexcept {
        return read<uint16_t>(v3::RecordLayout::num_locations);
    }
    // The bytes of location i (laid out as v3::LocationLayout), for readers that pick single
    // fields.
    const uint8_t* location_data(uint16_t i) const noexcept {
        return p_ + v3::RecordLayout::locations + v3::LocationLayout::bytes * uint32_t{i};
    }
    Location location(uint16_t i) const noexcept {
        using L = v3::LocationLayout;
        const uint8_t* q = location_data(i);
        Location loc;
        loc.kind = static_cast<LocationKind>(q[L::kind]);
        std::memcpy(&loc.size, q + L::size, sizeof loc.size);
        std::memcpy(&loc.dwarf_reg, q + L::dwarf_reg, sizeof loc.dwarf_reg);
        std::memcpy(&loc.offset, q + L::offset, sizeof loc.offset);
        return loc;
    }
    uint16_t num_live_outs() const noexcept {
        return read<uint16_t>(live_outs_header() + v3::LiveOutHeaderLayout::num_live_outs);
    }
    LiveOut live_out(uint16_t i) const noexcept;

    uint32_t offset_in_blob() const noexcept { return offset_; }
    uint32_t size_bytes() const noexcept; // including trailing padding to 8 bytes
    const uint8_t* data() const noexcept { return p_; }

  private:
    template <class T> T read(uint32_t off) const noexcept {
        T v;
        std::memcpy(&v, p_ + off, sizeof v);
        return v;
    }
    uint32_t live_outs_header() const noexcept; // offset of the (padding, NumLiveOuts) pair
    const uint8_t* p_ = nullptr;
    uint32_t offset_ = 0;
};

// One validated blob: header, function entries, constants, records.
class StackMapBlob {
  public:
    // Parses and validates the blob that starts at bytes[0]. `bytes` may extend past the blob
    // (a section holds several); size_bytes() tells where this one ends. `source` and
    // `base_offset` (the blob's offset in its section) only make error messages precise.
    static Expected<StackMapBlob> parse(std::span<const uint8_t> bytes,
                                        std::string_view source = {}, uint64_t base_offset = 0,
                                        uint32_t blob_index = 0);

    uint8_t version() const noexcept { return bytes_[v3::HeaderLayout::version]; }
    uint32_t num_functions() const noexcept { return read32(v3::HeaderLayout::num_functions); }
    uint32_t num_constants() const noexcept { return read32(v3::HeaderLayout::num_constants); }
    uint32_t num_records() const noexcept { return read32(v3::HeaderLayout::num_records); }
    FunctionEntry function(uint32_t i) const noexcept {
        using L = v3::FunctionLayout;
        const uint8_t* p = bytes_.data() + function_entry_offset(i);
        FunctionEntry f;
        std::memcpy(&f.address, p + L::address, sizeof f.address);
        std::memcpy(&f.stack_size, p + L::stack_size, sizeof f.stack_size);
        std::memcpy(&f.record_count, p + L::record_count, sizeof f.record_count);
        return f;
    }
    uint64_t constant(uint32_t i) const noexcept {
        uint64_t v;
        std::memcpy(&v, bytes_.data() + constant_offset(i), sizeof v);
        return v;
    }
    RecordView record(uint32_t i) const noexcept {
        return {bytes_.data() + record_offsets_[i], record_offsets_[i]};
    }
    // Index of the first record of function i (records are grouped by function, in order).
    uint64_t first_record_of(uint32_t function) const noexcept { return first_record_[function]; }

    std::span<const uint8_t> bytes() const noexcept { return bytes_; } // exactly this blob
    uint32_t size_bytes() const noexcept { return static_cast<uint32_t>(bytes_.size()); }
    uint64_t offset_in_section() const noexcept { return base_offset_; }
    uint32_t index_in_section() const noexcept { return blob_index_; }

    // Offsets of fields within the blob, for tools that patch or point at bytes.
    static constexpr uint32_t kHeaderSize = v3::HeaderLayout::bytes;
    static constexpr uint32_t kFunctionEntrySize = v3::FunctionLayout::bytes;
    uint32_t function_entry_offset(uint32_t i) const noexcept {
        return kHeaderSize + kFunctionEntrySize * i;
    }
    uint32_t constant_offset(uint32_t i) const noexcept {
        return kHeaderSize + kFunctionEntrySize * num_functions() + v3::kConstantBytes * i;
    }

  private:
    uint32_t read32(uint32_t off) const noexcept {
        uint32_t v;
        std::memcpy(&v, bytes_.data() + off, 4);
        return v;
    }
    std::span<const uint8_t> bytes_;
    std::vector<uint32_t> record_offsets_;
    std::vector<uint64_t> first_record_;
    uint64_t base_offset_ = 0;
    uint32_t blob_index_ = 0;
};

// Parses every blob of a `.llvm_stackmaps` section, in order. An empty section gives no blobs.
// Errors name the source, the blob index, and the byte offset within the section.
Expected<std::vector<StackMapBlob>> parse_stackmap_section(std::span<const uint8_t> section,
                                                           std::string_view source = {});

} // namespace gcwalk
