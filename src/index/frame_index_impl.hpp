// Internal to the index layer: what a FrameIndex holds (built by frame_index_builder.cpp, read by
// frame_index.cpp).
#pragma once

#include "table_memory.hpp"

#include <gcwalk/frame_index.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gcwalk {

struct FrameIndex::Impl {
    std::vector<ImageStackMaps> images;
    // Per image: its ImageStackMaps::blobs, or the blobs build() parsed; null for a packed image.
    std::vector<std::shared_ptr<const std::vector<StackMapBlob>>> blobs;
    // A packed image's version 3 view (v3_from_frame_table: one blob, its functions and records
    // in table order), made on the first record() or blob() that needs it: the cold path pays
    // for it, a build does not.
    struct Unpacked {
        std::once_flag once;
        std::vector<uint8_t> bytes;
        std::vector<StackMapBlob> blobs; // empty when it could not be made
        std::string error;               // then why
    };
    std::vector<std::unique_ptr<Unpacked>> unpacked; // per image; null unless packed
    // Image i's blobs (made first for a packed image), or nullptr when they cannot be made.
    const std::vector<StackMapBlob>* blobs_of(uint32_t image) const noexcept;
    LargeArray<FrameRecord> frames; // sorted by function address
    LargeArray<CallSite> table;     // the hash table (16-byte slots): home slots, then a tail
    uint64_t home_slots = 1;        // FrameIndex::slot_of's range (call_site_table.hpp)
    LargeArray<RootPair> roots;
    // root_offsets[i] = roots[i].base.offset() where it fits 16 bits (as every plain root's does):
    // the [RSP + offset] slots a CallSite::kPlainRoots frame visits, read without decoding
    // (FrameIndex::Hot::root_offsets); 2 bytes a pair.
    LargeArray<int16_t> root_offsets;
    std::vector<FrameRule> rules;
    size_t num_sites = 0;
    uint64_t serial = 0;         // unique per build in this process (FrameIndex::serial)
    bool register_roots = false; // FrameIndex::register_roots
    std::shared_ptr<const NativeFrames> native; // FrameIndex::native_frames
};

} // namespace gcwalk
