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
    uint64_t address;      // as stored: 0 in a .o / unrelocated image (the address is in a relocation)
    uint64_t stack_size;   // bytes; UINT64_MAX for dynamic frames (dynamic alloca, realignment)
    uint64_t record_count; // this function's records follow the previous functions' records
};

inline constexpr uint64_t kDynamicStackSize = UINT64_MAX;

// One stack map record. Cheap to copy; points into the blob's bytes.
class RecordView {
public:
    RecordView() = default;
    RecordView(const uint8_t* p, uint32_t offset_in_blob) : p_(p), offset_(offset_in_blob) {}

    uint64_t id() const noexcept { return read<uint64_t>(0); }
    uint32_t instruction_offset() const noexcept { return read<uint32_t>(8); }
    uint16_t flags() const noexcept { return read<uint16_t>(12); } // "reserved" in LLVM's docs
    uint16_t num_locations() const noexcept { return read<uint16_t>(14); }
    Location location(uint16_t i) const noexcept {
        const uint8_t* q = p_ + 16 + 12u * i; // after the record header; 12 bytes a location
        Location loc;
        loc.kind = static_cast<LocationKind>(q[0]);
        std::memcpy(&loc.size, q + 2, 2);
        std::memcpy(&loc.dwarf_reg, q + 4, 2);
        std::memcpy(&loc.offset, q + 8, 4);
        return loc;
    }
    uint16_t num_live_outs() const noexcept { return read<uint16_t>(live_outs_header() + 2); }
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
    static Expected<StackMapBlob> parse(std::span<const uint8_t> bytes, std::string_view source = {},
                                        uint64_t base_offset = 0, uint32_t blob_index = 0);

    uint8_t version() const noexcept { return bytes_[0]; }
    uint32_t num_functions() const noexcept { return read32(4); }
    uint32_t num_constants() const noexcept { return read32(8); }
    uint32_t num_records() const noexcept { return read32(12); }
    FunctionEntry function(uint32_t i) const noexcept {
        const uint8_t* p = bytes_.data() + function_entry_offset(i);
        FunctionEntry f;
        std::memcpy(&f.address, p, 8);
        std::memcpy(&f.stack_size, p + 8, 8);
        std::memcpy(&f.record_count, p + 16, 8);
        return f;
    }
    uint64_t constant(uint32_t i) const noexcept {
        uint64_t v;
        std::memcpy(&v, bytes_.data() + constant_offset(i), 8);
        return v;
    }
    RecordView record(uint32_t i) const noexcept { return {bytes_.data() + record_offsets_[i], record_offsets_[i]}; }
    // Index of the first record of function i (records are grouped by function, in order).
    uint64_t first_record_of(uint32_t function) const noexcept { return first_record_[function]; }

    std::span<const uint8_t> bytes() const noexcept { return bytes_; } // exactly this blob
    uint32_t size_bytes() const noexcept { return static_cast<uint32_t>(bytes_.size()); }
    uint64_t offset_in_section() const noexcept { return base_offset_; }
    uint32_t index_in_section() const noexcept { return blob_index_; }

    // Offsets of fields within the blob, for tools that patch or point at bytes.
    static constexpr uint32_t kHeaderSize = 16;
    static constexpr uint32_t kFunctionEntrySize = 24;
    uint32_t function_entry_offset(uint32_t i) const noexcept { return kHeaderSize + kFunctionEntrySize * i; }
    uint32_t constant_offset(uint32_t i) const noexcept { return kHeaderSize + kFunctionEntrySize * num_functions() + 8 * i; }

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
