// The packed frame table of one linked image: what `gcwalk-pack` writes into `.gcwalk_frames`
// (compressed chunks, <gcwalk/frame_chunks.hpp>) so that the runtime builds its index without
// parsing stack map v3 or evaluating CFI. The flat "v2" FrameRecord layout of
// <gcwalk/stackmap_v2.hpp> with 32-bit counts and indexes, image-relative addresses, and gcwalk's
// extensions: the exact frame rule of every call site, its decoded root pairs, the location sizes
// v2 dropped, and what the table describes (the image's build ID and a hash of its code). Each
// record is split into a hot site (what the index reads) and a cold record (its v3 contents),
// in tables of their own: the runtime can leave the cold ones compressed until record() asks.
// docs/FORMATS.md ("Frame tables") gives the byte layout.
//
//   auto table = gcwalk::pack_frame_table(image_stackmaps, identity);   // index layer
//   auto bytes = gcwalk::write_frame_table(*table);                     // the payload
//   auto back = gcwalk::parse_frame_table(*bytes, "libfoo.so");         // == *table
//   std::string why = gcwalk::check_identity(back->identity, loaded);   // empty: it matches
//   auto hot = gcwalk::read_frame_table_section(section, "libfoo.so", true); // cold deferred
#pragma once

#include <gcwalk/expected.hpp>
#include <gcwalk/frame_index.hpp>
#include <gcwalk/frame_rule.hpp>
#include <gcwalk/stackmap.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gcwalk {

inline constexpr const char* kFrameTableSection = ".gcwalk_frames";

// What a table describes. Addresses are the image's link-time virtual addresses (what the ELF
// section headers say); the loaded image adds its load bias.
struct FrameTableIdentity {
    std::vector<uint8_t> build_id; // the NT_GNU_BUILD_ID note's descriptor; empty when none
    struct CodeRange {
        uint64_t address; // link-time
        uint64_t size;
        bool operator==(const CodeRange&) const = default;
    };
    std::vector<CodeRange> code; // every SHF_EXECINSTR section with contents, in address order
    uint64_t code_hash = 0;      // frame_table_hash over the bytes of `code`, in order
    bool operator==(const FrameTableIdentity&) const = default;
};

// A 64-bit hash of `bytes`, continued from `seed` (hashing ranges one after the other with the
// previous result as the seed equals hashing their concatenation). Not cryptographic: it tells
// a rebuilt or modified image from the one a table was packed for.
uint64_t frame_table_hash(std::span<const uint8_t> bytes, uint64_t seed = 0) noexcept;

// Why `table` does not describe the image loaded at `load_bias` (empty when it does): build IDs
// differ (when both have one), or the hash of the code in memory at each CodeRange + load_bias
// differs. `loaded_build_id` is the loaded image's build ID (empty when it has none). Reads the
// code ranges from memory: call it only for a loaded image whose executable segments hold them.
std::string check_identity(const FrameTableIdentity& table,
                           std::span<const uint8_t> loaded_build_id, uint64_t load_bias);
// check_identity's first half, which reads no memory: why the build IDs differ (when both have
// one), or empty.
std::string check_build_id(const FrameTableIdentity& table,
                           std::span<const uint8_t> loaded_build_id);

// One managed function (a v2 FrameRecord, widened).
struct PackedFunction {
    uint64_t address;    // link-time (image-relative)
    uint64_t size;       // bytes (from the symbol or FDE; else up to the last call site + 1)
    uint64_t stack_size; // as in v3 (kDynamicStackSize for dynamic frames)
    uint32_t flags;      // FrameFlags (kFrameDynamic, kFrameSizeUnknown, kFrameHasRule)
    uint32_t first_record, num_records; // into FrameTable::sites (and ::records), by offset
    bool operator==(const PackedFunction&) const = default;
};

// One record's call site, precomputed: what the index stores for it (the hot half of a record).
struct PackedSite {
    uint32_t instruction_offset; // return address - function address
    uint16_t site_flags;         // kPackedStatepoint, kPackedPlainRoots
    uint16_t num_roots;
    uint32_t rule;       // into FrameTable::rules
    uint32_t first_root; // into FrameTable::roots (lists are uniqued)
    bool operator==(const PackedSite&) const = default;
};
enum : uint16_t {
    kPackedStatepoint = 1u << 0, // the record decodes as a gc.statepoint record (roots below)
    kPackedPlainRoots = 1u << 1, // CallSite::kPlainRoots holds for its roots
};

// The rest of a record (a v2 record's cold half): what FrameIndex::record() shows, not what the
// walk reads. records[i] belongs to sites[i].
struct PackedRecord {
    uint64_t id;
    uint16_t flags; // the v3 record flags
    uint16_t num_locations, num_live_outs;
    uint16_t reserved = 0;
    uint32_t first_location; // into FrameTable::locations (lists are uniqued)
    uint32_t first_live_out; // into FrameTable::live_outs
    bool operator==(const PackedRecord&) const = default;
};

// A v3 location, whole (v2 dropped the size): ConstantIndex offsets index FrameTable::constants.
using PackedLocation = Location;

// The cold tables of a table read with them left compressed (read_frame_table_section): opaque.
struct DeferredFrameTables;

struct FrameTable {
    FrameTableIdentity identity;
    // The hot tables: what FrameIndex::build reads.
    std::vector<PackedFunction> functions; // sorted by address, not overlapping
    std::vector<PackedSite> sites;         // one per record
    std::vector<FrameRule> rules;          // distinct; what the index stores per call site
    std::vector<RootPair> roots; // decoded (base, derived) pairs, as FrameIndex::roots gives them
    // The cold tables (the records' v3 contents). Empty when `deferred` is set: then they are
    // still compressed there, and v3_from_frame_table inflates and checks them when first asked.
    std::vector<uint64_t> constants;
    std::vector<PackedRecord> records; // parallel to sites
    std::vector<PackedLocation> locations;
    std::vector<LiveOut> live_outs;
    std::shared_ptr<const DeferredFrameTables> deferred;
    bool operator==(const FrameTable& o) const;
};

// Serialises `table` (the uncompressed payload). Fails if parse_frame_table would not read it back
// equal (an index or count out of range, functions out of order, ...).
Expected<std::vector<uint8_t>> write_frame_table(const FrameTable& table);

// Parses and validates a payload (read_frame_chunks' output) holding exactly one table. Every
// count, index and range is checked before use; an error names `source` and the byte offset.
Expected<FrameTable> parse_frame_table(std::span<const uint8_t> payload,
                                       std::string_view source = {});

// Where a payload's cold tables start (write_frame_table's output; 0 when `payload` has no valid
// header): a writer that ends a chunk there lets the runtime leave them compressed.
uint64_t frame_table_cold_offset(std::span<const uint8_t> payload) noexcept;

// read_frame_chunks and parse_frame_table of a whole `.gcwalk_frames` section of image `name`
// (errors name it, and the section). With `defer_cold`, when a chunk ends where the cold tables
// start, the chunks after it are not inflated: the table's `deferred` keeps a copy of the
// section, and only the hot tables are parsed and checked (the cold ones are when
// v3_from_frame_table first needs them). Without it, or without that chunk boundary, the same
// as parse_frame_table of the whole payload.
Expected<FrameTable> read_frame_table_section(std::span<const uint8_t> section,
                                              std::string_view name, bool defer_cold);

// Reads `table`'s deferred cold tables into it (inflated and checked as v3_from_frame_table
// does; `deferred` is then reset), making it whole: what write_frame_table needs. Nothing to do
// for a table without deferred tables. On failure the table is left as it was.
Status inflate_deferred_tables(FrameTable& table);

// The table's records as one version 3 blob (what FrameIndex::record() and blob() show for a
// packed image): its functions in table order with their link-time addresses, its constants, its
// records in table order, each with its locations and live-outs. `table` must be valid (as
// parse_frame_table or read_frame_table_section returns it); fails when the blob would reach
// 4 GiB, or when the table's deferred cold tables do not inflate or are invalid (the message
// says which and where, as parse_frame_table's would).
Expected<std::vector<uint8_t>> v3_from_frame_table(const FrameTable& table);

// The table of one image: its stack maps as the index would build them (image.section or
// image.blobs; image.functions and image.rules as the registry computes them, absolute with
// image.load_bias applied), with addresses made link-time again (load_bias subtracted).
// Implemented in the index layer (it encodes roots and rules as the index does).
Expected<FrameTable> pack_frame_table(const ImageStackMaps& image, FrameTableIdentity identity);

} // namespace gcwalk
