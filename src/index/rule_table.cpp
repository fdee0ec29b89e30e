// Rule interning for the index: equal FrameRules share one entry of the table.
#include "rule_table.hpp"

#include <gcwalk/frame_index.hpp>

namespace gcwalk {

size_t RuleInterner::Hash::operator()(const FrameRule& r) const noexcept {
    uint64_t h = static_cast<uint32_t>(r.cfa_offset) | (uint64_t{r.cfa_reg} << 32) |
                 (uint64_t{r.flags} << 40);
    for (int16_t s : r.saved) h = h * 31 + static_cast<uint16_t>(s);
    return (h ^ (h >> 29)) * 0x9E3779B97F4A7C15ull; // mixed
}

uint32_t RuleInterner::lookup(const FrameRule& r) {
    if (auto it = ids_.find(r); it != ids_.end()) return it->second;
    if (rules_.size() + 1 >= CallSite::kMaxRules) { // full: the last entry, with no exact rule
        if (rules_.size() + 1 == CallSite::kMaxRules) {
            FrameRule none{};
            none.cfa_reg = kRuleUnknown;
            rules_.push_back(none);
        }
        return CallSite::kMaxRules - 1;
    }
    ids_.emplace(r, static_cast<uint32_t>(rules_.size()));
    rules_.push_back(r);
    return static_cast<uint32_t>(rules_.size() - 1);
}

} // namespace gcwalk
