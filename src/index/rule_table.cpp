// Rule interning for the index: equal FrameRules share one entry of the table.
#include "rule_table.hpp"

namespace gcwalk {

size_t RuleInterner::Hash::operator()(const FrameRule& r) const noexcept {
    uint64_t h = static_cast<uint32_t>(r.cfa_offset) | (uint64_t{r.cfa_reg} << 32) |
                 (uint64_t{r.flags} << 40);
    for (int16_t s : r.saved) h = h * 31 + static_cast<uint16_t>(s);
    return (h ^ (h >> 29)) * 0x9E3779B97F4A7C15ull; // mixed, as FrameIndex::slot_of mixes
}

uint32_t RuleInterner::lookup(const FrameRule& r) {
    auto [it, inserted] = ids_.emplace(r, static_cast<uint32_t>(rules_.size()));
    if (inserted) rules_.push_back(r);
    return it->second;
}

} // namespace gcwalk
