// The chunk framing of a `.gcwalk_frames` section (docs/FORMATS.md, "Chunks"): chunks back to
// back, each a ULEB128 original size, a ULEB128 compressed size and that many bytes of a zlib
// stream (RFC 1950 around RFC 1951 deflate) that inflates to exactly the original size. A linker
// concatenates the sections of several objects without change: every chunk is read, in order.
//
//   auto payload = gcwalk::read_frame_chunks(section, "libfoo.so");  // Expected<vector<uint8_t>>
//
// The reader inflates with its own decoder (the core links nothing but the standard library) and
// never allocates what a chunk claims: a claimed size past what deflate can produce from the
// chunk's bytes (1032:1), past the caller's limit, or past the section is refused up front, and
// the output grows only as the stream really produces it.
#pragma once

#include <gcwalk/expected.hpp>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace gcwalk {

// The most bytes a deflate stream of n bytes can inflate to (its best ratio is 258 bytes per
// 2 bits of a fixed-Huffman length code, 1032:1), plus slack for tiny streams.
inline constexpr uint64_t max_inflated_size(uint64_t compressed) noexcept {
    return compressed > (UINT64_MAX - 1024) / 1032 ? UINT64_MAX : compressed * 1032 + 1024;
}

// Default limit on the total payload of one section: 1 GiB.
inline constexpr uint64_t kMaxFramePayload = uint64_t{1} << 30;

// Every chunk's payload, concatenated in section order. An error names `name`, the chunk's index
// and its offset in the section, and what is wrong (a truncated size or stream, a size past the
// section, a claimed size no stream of that length can produce or past max_total, a bad zlib
// header or checksum, a stream that inflates to more or fewer bytes than claimed, an invalid
// deflate block). An empty section has no chunks and an empty payload.
Expected<std::vector<uint8_t>> read_frame_chunks(std::span<const uint8_t> section,
                                                 std::string_view name,
                                                 uint64_t max_total = kMaxFramePayload);

// read_frame_chunks one chunk at a time, resumable: inflates the chunks of `section` from offset
// *pos on, appending to `payload`, while `payload` is shorter than `until` (so it stops after
// the chunk that reaches it); *pos is left at the first chunk not read and *chunk counts the
// chunks read (messages name chunk *chunk). max_total limits `payload`'s whole size.
Status read_frame_chunks_from(std::span<const uint8_t> section, std::string_view name, size_t* pos,
                              uint32_t* chunk, std::vector<uint8_t>& payload, uint64_t until,
                              uint64_t max_total = kMaxFramePayload);

// Inflates one zlib stream (header, deflate data, Adler-32) into exactly `size` bytes appended to
// `out` (which grows as bytes are produced). Bytes after the stream's checksum are an error.
// The message says what is wrong and at which byte of `in`.
Status inflate_zlib(std::span<const uint8_t> in, uint64_t size, std::vector<uint8_t>& out);

// Appends one chunk (sizes and the zlib stream as given) to `section`: what a writer that
// compressed `original_size` bytes into `zlib_stream` emits.
void append_frame_chunk(std::vector<uint8_t>& section, uint64_t original_size,
                        std::span<const uint8_t> zlib_stream);

} // namespace gcwalk
