// Decoding a gc.statepoint record: calling convention, flags, deopt locations, (base, derived)
// pairs, and the trailing gc-alloca Direct locations (see docs/FORMATS.md for the layout).
#pragma once

#include <gcwalk/expected.hpp>
#include <gcwalk/stackmap.hpp>

#include <cstdint>
#include <string_view>

namespace gcwalk {

inline constexpr uint64_t kDefaultStatepointId = 0xABCDEF00;

// Location indices into the record; all ranges are [first, first + count).
struct StatepointLayout {
    uint64_t calling_convention; // loc[0]
    uint64_t flags;              // loc[1]
    uint16_t first_deopt;        // == 3
    uint16_t num_deopt;          // loc[2]
    uint16_t first_pair;         // location index of the first base
    uint16_t num_pairs;          // (base, derived) pairs: locations first_pair + 2k, + 2k + 1
    uint16_t first_gc_alloca;    // trailing unpaired Direct locations
    uint16_t num_gc_allocas;
};

// Decodes `record` as a statepoint record of `blob`. Fails (with the record's index and offset in
// the message) if the record does not have the statepoint shape: three leading constants, enough
// locations for the deopt count, and an even number of locations before the trailing Directs.
Expected<StatepointLayout> decode_statepoint(const StackMapBlob& blob, const RecordView& record,
                                             std::string_view source = {});

// The value a Constant or ConstantIndex location stands for.
uint64_t constant_value(const StackMapBlob& blob, const Location& loc) noexcept;

} // namespace gcwalk
