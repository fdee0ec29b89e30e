// Internal to the index layer: a statepoint record's roots in the index's compact encoding
// (RootLoc, RootPair in frame_index.hpp), checked against what a collector can relocate.
#pragma once

#include <gcwalk/expected.hpp>
#include <gcwalk/frame_index.hpp>
#include <gcwalk/statepoint.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace gcwalk {

// Where a record is, for messages.
struct RecordWhere {
    const ImageStackMaps& img;
    uint32_t blob, record;
    uint64_t ra;
    std::string operator()(const std::string& what) const;
};

// Turns statepoint records into root slots. Keeps its scratch between records, so that the
// common record allocates nothing; messages are made only when something is wrong.
class RootEncoder {
  public:
    // The roots of statepoint record `rec` (laid out as `sp`): its (base, derived) pairs and gc
    // allocas, one pair per 8-byte slot, bases first, each exact pair once. Valid until the next
    // call. Fails, naming `where`, on a root no collector could relocate.
    Status encode(const RecordView& rec, const StatepointLayout& sp, const RecordWhere& where);
    std::span<const RootPair> pairs() const noexcept { return pairs_; }

  private:
    Status slots_of(const Location& loc, const RecordWhere& where, const char* side, uint32_t k,
                    std::vector<RootLoc>* out);
    void sort_unique();

    std::vector<RootPair> pairs_;
    std::vector<RootLoc> base_slots_, derived_slots_; // scratch of slots_of(), per pair
};

} // namespace gcwalk
