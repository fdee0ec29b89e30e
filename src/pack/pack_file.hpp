// gcwalk-pack's work on one file: read its stack maps, frame rules, symbols and identity
// (read_stackmaps_from_file), pack them into a frame table, compress it into `.gcwalk_frames`
// chunks, rewrite the ELF file with the section, check what was written, and rename it into place.
//
//   auto done = gcwalk::pack::pack_file({.input = "a.out", .strip_stackmaps = true});
//   if (!done) { report(done.error().message); }   // "a.out: ..."
#pragma once

#include <gcwalk/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace gcwalk::pack {

// Payload bytes per chunk at most (each chunk is one zlib stream).
inline constexpr size_t kChunkPayload = size_t{1} << 20;

struct PackOptions {
    std::string input;
    std::string output; // empty: rewrite `input` in place
    bool strip_stackmaps = false;
};

struct PackSummary {
    std::string output;
    uint64_t call_sites = 0;       // records in the table
    uint64_t functions = 0;        // functions in the table
    uint64_t stackmap_bytes = 0;   // `.llvm_stackmaps` (v3) of the input
    uint64_t payload_bytes = 0;    // the serialised table
    uint64_t compressed_bytes = 0; // the `.gcwalk_frames` section (chunks)
    uint64_t chunks = 0;
    bool stripped = false;
};

// `payload` as `.gcwalk_frames` chunks: at most chunk_payload bytes each, zlib level 9; a chunk
// also ends at payload offset `cut` when it is inside the payload (a frame table's cold tables,
// frame_table_cold_offset: so that the runtime can leave them compressed). *chunks (when given)
// is set to the number of chunks written.
Expected<std::vector<uint8_t>> compress_frame_chunks(std::span<const uint8_t> payload,
                                                     size_t chunk_payload = kChunkPayload,
                                                     uint64_t cut = 0, uint64_t* chunks = nullptr);

// Packs one file. Errors name the file and what is wrong; nothing is written then.
Expected<PackSummary> pack_file(const PackOptions& options);

} // namespace gcwalk::pack
