// Internal to the index layer: filling the index's return-address hash table (open addressing,
// linear probing; key 0 marks an empty slot, as no return address is 0). A probe starts at its
// home slot (FrameIndex::slot_of over home_slots()) and runs on past the home slots into a tail
// instead of wrapping around; the table's last slot is always empty.
#pragma once

#include "table_memory.hpp"

#include <gcwalk/frame_index.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gcwalk {

// Inserts call sites into a table of `nslots` zeroed slots, in batches. A return address with
// two records keeps the statepoint one, else the first: the table is the same as with one insert
// per call site in the order add() saw them.
class CallSiteInserter {
  public:
    // Sizes and zeroes `table` for `sites` call sites at the index's load factor.
    CallSiteInserter(LargeArray<CallSite>& table, size_t sites);

    // Queues a call site; inserts the queue when it is full.
    void add(const CallSite& site, bool statepoint) {
        pending_.push_back({site, statepoint});
        if (pending_.size() == kPendingMax) flush();
    }
    // Inserts the queued call sites (call once more after the last add()).
    void flush();
    // Distinct return addresses inserted so far.
    size_t num_sites() const noexcept { return num_sites_; }
    // The number of home slots (the table has more: its tail).
    uint64_t home_slots() const noexcept { return nslots_; }

  private:
    void insert(const CallSite& site, bool statepoint);
    void grow_tail();

    struct Pending {
        CallSite site;
        bool statepoint;
    };
    static constexpr size_t kPendingMax = 1024; // 24 KiB: stays in the L1/L2 cache
    LargeArray<CallSite>& table_;
    uint64_t nslots_;
    std::vector<bool> is_statepoint_; // per slot, for choosing between duplicate records
    std::vector<Pending> pending_;    // in add() order
    size_t num_sites_ = 0;
};

} // namespace gcwalk
