// Batched inserts into the index's return-address hash table.
#include "call_site_table.hpp"

namespace gcwalk {

namespace {
// Below 1: a probe for a missing address ends at an empty slot soon.
constexpr double kMaxLoadFactor = 0.7;

// Slots past the home slots, at first: probes run on into them instead of wrapping around.
constexpr size_t kTail = 64;
} // namespace

CallSiteInserter::CallSiteInserter(LargeArray<CallSite>& table, size_t sites)
    : table_(table),
      nslots_(sites == 0 ? 1
                         : static_cast<uint64_t>(static_cast<double>(sites) / kMaxLoadFactor) + 1) {
    table_ = LargeArray<CallSite>(nslots_ + kTail); // zeroed: every slot empty
    is_statepoint_.assign(table_.size(), false);
    pending_.reserve(kPendingMax);
}

// The table's last slot stays empty, so that every probe ends in the table: an insert into it
// adds empty slots (rare: a run of full slots past the home slots' end longer than the tail).
void CallSiteInserter::grow_tail() {
    const size_t more = table_.size() / 8 + kTail;
    for (size_t i = 0; i < more; ++i) table_.push_back(CallSite{});
    is_statepoint_.resize(table_.size(), false);
}

// Forced inline into flush(), its one caller, which runs it once per call site.
[[gnu::always_inline]] inline void CallSiteInserter::insert(const CallSite& site, bool statepoint) {
    const uint64_t ra = site.return_address();
    uint64_t s = FrameIndex::slot_of(ra, nslots_);
    while (table_[s].key != 0) {
        if (table_[s].return_address() == ra) {
            if (statepoint && !is_statepoint_[s]) {
                table_[s] = site;
                is_statepoint_[s] = true;
            }
            return;
        }
        ++s; // (the last slot is empty: s stays in the table)
    }
    table_[s] = site;
    is_statepoint_[s] = statepoint;
    ++num_sites_;
    if (s + 1 == table_.size()) grow_tail();
}

// Past a few MB the table is far larger than the caches and each site's slot is random: an
// insert waits for memory. Here the slot kAhead sites ahead is requested first, so that many
// misses are under way at once instead of one; the inserts themselves stay in queue order.
void CallSiteInserter::flush() {
    constexpr size_t kAhead = 16;
    const size_t n = pending_.size();
    for (size_t i = 0; i < n; ++i) {
        if (i + kAhead < n)
            __builtin_prefetch(
                &table_[FrameIndex::slot_of(pending_[i + kAhead].site.return_address(), nslots_)],
                1);
        insert(pending_[i].site, pending_[i].statepoint);
    }
    pending_.clear();
}

} // namespace gcwalk
