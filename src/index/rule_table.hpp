// Internal to the index layer: the index's FrameRule table, one entry per distinct rule (call
// sites share them by index).
#pragma once

#include <gcwalk/frame_rule.hpp>

#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <vector>

namespace gcwalk {

// cfa_reg of a rule whose CFA is not known (a dynamic frame without CFI, the full table's last).
inline constexpr uint8_t kRuleUnknown = 0xff;

inline bool rule_equal(const FrameRule& a, const FrameRule& b) noexcept {
    return a.cfa_offset == b.cfa_offset && a.cfa_reg == b.cfa_reg && a.flags == b.flags &&
           std::memcmp(a.saved, b.saved, sizeof a.saved) == 0;
}

// Appends rules to `rules` once each and answers their index.
class RuleInterner {
  public:
    explicit RuleInterner(std::vector<FrameRule>& rules) : rules_(rules) {}

    // The index of `r` in the table, appending it when it is new; past CallSite::kMaxRules - 1
    // distinct rules, the index of the table's last entry, a rule that is not exact. Call sites of
    // one function mostly share a rule, so the rule asked for last is checked before the hash map.
    uint32_t intern(const FrameRule& r) {
        if (last_ != kNone && rule_equal(rules_[last_], r)) return last_;
        return last_ = lookup(r);
    }

  private:
    static constexpr uint32_t kNone = UINT32_MAX;
    struct Hash {
        size_t operator()(const FrameRule& r) const noexcept;
    };
    struct Eq {
        bool operator()(const FrameRule& a, const FrameRule& b) const noexcept {
            return rule_equal(a, b);
        }
    };
    uint32_t lookup(const FrameRule& r);

    std::vector<FrameRule>& rules_;
    std::unordered_map<FrameRule, uint32_t, Hash, Eq> ids_;
    uint32_t last_ = kNone;
};

} // namespace gcwalk
