// Internal to the index layer: what the index computes from one image's version 3 blobs, for
// each function (its FrameRecord: range, stack size, flags) and each call site (its frame rule,
// its roots), handed to a sink. The index builder inserts what it is given; pack_frame_table
// writes it into a packed frame table. One scan, so both compute exactly the same.
#pragma once

#include "root_encoding.hpp"
#include "rule_table.hpp"

#include <gcwalk/detail/format.hpp>
#include <gcwalk/frame_index.hpp>
#include <gcwalk/statepoint.hpp>

#include <algorithm>
#include <iterator>
#include <span>
#include <utility>
#include <vector>

namespace gcwalk {

inline constexpr uint64_t kAddressMask = (uint64_t{1} << 48) - 1;

// The frame rule without CFI: CFA = RSP + stack size + 8, or unknown for a dynamic frame.
inline FrameRule stack_size_rule(uint64_t stack_size) noexcept {
    FrameRule r{};
    if (stack_size == kDynamicStackSize) {
        r.cfa_reg = kRuleUnknown;
    } else {
        r.cfa_reg = kDwarfRsp;
        r.cfa_offset = static_cast<int32_t>(stack_size + 8);
    }
    return r;
}

// A root in a register's save slot, or in memory at a register other than RSP and RBP plus an
// offset (FrameIndex::register_roots).
inline bool needs_register(RootLoc loc) noexcept {
    return loc.kind() == RootLoc::kRegister ||
           (loc.kind() == RootLoc::kMemory && loc.dwarf_reg() != kDwarfRsp &&
            loc.dwarf_reg() != kDwarfRbp);
}
inline bool needs_register(const RootPair& p) noexcept {
    return needs_register(p.base) || needs_register(p.derived);
}

// A pair a CallSite::kPlainRoots frame may have: a plain root in an [RSP + offset] slot whose
// offset fits the 16 bits of FrameIndex::Hot::root_offsets.
inline bool plain_pair(const RootPair& p) noexcept {
    return p.base.bits == p.derived.bits && p.base.is_sp_slot() && p.base.offset() >= INT16_MIN &&
           p.base.offset() <= INT16_MAX;
}

// CallSite::kPlainRoots holds for `pairs` (sorted and unique, as RootEncoder gives them).
inline bool plain_roots(std::span<const RootPair> pairs) noexcept {
    if (pairs.size() > kMaxRootPairsPerFrame) return false;
    for (const RootPair& p : pairs)
        if (!plain_pair(p)) return false;
    return true;
}

// The message for a function address the index cannot use.
std::string unusable_function_address(const ImageStackMaps& img, uint32_t blob, uint32_t function,
                                      uint64_t address);
// A function's address as the index refuses it (0, or not a user-space address).
inline bool unusable_address(uint64_t address) noexcept {
    return address == 0 || address > kAddressMask;
}

inline bool looks_like_statepoint(const RecordView& rec) noexcept {
    if (rec.num_locations() < 3) return false;
    for (uint16_t i = 0; i < 3; ++i)
        if (rec.location(i).kind != LocationKind::Constant) return false;
    return true;
}

// Finds the CFI rule of each return address of an image in its sorted rule list. Records mostly
// come in address order, so it walks on from the last answer and searches only when sent back.
class RuleCursor {
  public:
    using Rules = std::vector<std::pair<uint64_t, FrameRule>>;
    RuleCursor(const Rules& rules, uint64_t from) : rules_(rules), it_(find(from)) {}

    // The rule given for `ra`, or nullptr.
    const FrameRule* at(uint64_t ra) {
        if (it_ != rules_.begin() && (it_ == rules_.end() || it_->first > ra) &&
            std::prev(it_)->first >= ra)
            it_ = find(ra);
        while (it_ != rules_.end() && it_->first < ra) ++it_;
        return it_ != rules_.end() && it_->first == ra ? &it_->second : nullptr;
    }

  private:
    Rules::const_iterator find(uint64_t ra) const {
        return std::lower_bound(rules_.begin(), rules_.end(), ra,
                                [](const auto& x, uint64_t a) { return x.first < a; });
    }
    const Rules& rules_;
    Rules::const_iterator it_;
};

// One call site as the index computes it (valid during the sink's call).
struct ScannedSite {
    const StackMapBlob& blob;
    const RecordView& rec;
    const RecordWhere& where;        // image, blob, record index, return address
    uint32_t rule;                   // index into the scanner's rule table
    bool statepoint;                 // decodes as a statepoint record
    std::span<const RootPair> roots; // sorted, unique; empty unless a statepoint
    bool plain;                      // CallSite::kPlainRoots holds for the roots
    bool register_roots;             // some root needs_register
};

// Scans images, interning rules into `rules` (the index's table, or a packed table's).
// Sink: Status site(const FrameRecord&, const ScannedSite&) per record, in blob order, and
// void function(const FrameRecord&) after each function's records (its flags then final).
class RecordScanner {
  public:
    explicit RecordScanner(std::vector<FrameRule>& rules) : rules_(rules) {}

    // Interns a rule into the same table (a packed image's rules, in the index builder).
    uint32_t intern(const FrameRule& rule) { return rules_.intern(rule); }

    // Scans image `img` (sorts its functions and rules) whose blobs are `blobs`.
    template <class Sink>
    Status scan(ImageStackMaps& img, uint32_t image_index, const std::vector<StackMapBlob>& blobs,
                Sink& sink) {
        std::sort(
            img.functions.begin(), img.functions.end(),
            [](const FunctionRange& a, const FunctionRange& b) { return a.address < b.address; });
        std::sort(img.rules.begin(), img.rules.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        for (uint32_t b = 0; b < blobs.size(); ++b) {
            for (uint32_t f = 0; f < blobs[b].num_functions(); ++f) {
                auto fr = frame_record(img, image_index, blobs[b], b, f);
                if (!fr) return fr.error();
                if (auto st = add_records(img, blobs[b], &*fr, sink); !st) return st;
                sink.function(*fr);
            }
        }
        return {};
    }

  private:
    // Function f of blob b as a FrameRecord: absolute address, range, stack size (no rule yet).
    static Expected<FrameRecord> frame_record(const ImageStackMaps& img, uint32_t image_index,
                                              const StackMapBlob& blob, uint32_t b, uint32_t f);

    // Hands over the call sites of function *fr; sets kFrameHasRule when CFI gave each its rule.
    template <class Sink>
    Status add_records(const ImageStackMaps& img, const StackMapBlob& blob, FrameRecord* fr,
                       Sink& sink) {
        RuleCursor cfi(img.rules, fr->function_address);
        uint32_t fallback =
            UINT32_MAX; // the stack-size rule, interned when a record first needs it
        bool all_rules = fr->num_records > 0;
        for (uint32_t r = 0; r < fr->num_records; ++r) {
            const uint32_t rec_index = fr->first_record + r;
            const RecordView rec = blob.record(rec_index);
            const uint64_t ra = fr->function_address + rec.instruction_offset();
            const RecordWhere where{img, fr->blob, rec_index, ra};
            if (ra > kAddressMask) return Error{where("return address beyond 48 bits")};
            uint32_t rule;
            if (const FrameRule* exact = cfi.at(ra)) {
                rule = rules_.intern(*exact);
            } else {
                all_rules = false;
                if (fallback == UINT32_MAX)
                    fallback = rules_.intern(stack_size_rule(fr->stack_size));
                rule = fallback;
            }
            ScannedSite site{blob, rec, where, rule, false, {}, true, false};
            if (looks_like_statepoint(rec)) {
                if (auto sp = decode_statepoint(blob, rec, img.name)) {
                    site.statepoint = true;
                    if (auto st = roots_.encode(rec, *sp, where); !st) return st;
                    site.roots = roots_.pairs();
                    site.plain = plain_roots(site.roots);
                    for (const RootPair& p : site.roots) site.register_roots |= needs_register(p);
                }
            }
            if (auto st = sink.site(*fr, site); !st) return st;
        }
        if (all_rules) fr->flags |= kFrameHasRule;
        return {};
    }

    RuleInterner rules_;
    RootEncoder roots_;
};

} // namespace gcwalk
