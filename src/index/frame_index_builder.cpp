// Builds the FrameRecord index from parsed stack maps: one FrameRecord per function, one call site
// per return address (its roots encoded, its frame rule interned), in one pass over the records.
#include "call_site_table.hpp"
#include "frame_index_impl.hpp"
#include "root_encoding.hpp"
#include "rule_table.hpp"

#include <gcwalk/detail/format.hpp>
#include <gcwalk/frame_index.hpp>
#include <gcwalk/statepoint.hpp>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <memory>
#include <utility>

namespace gcwalk {

namespace {

constexpr uint64_t kAddressMask = (uint64_t{1} << 48) - 1;

// The frame rule without CFI: CFA = RSP + stack size + 8, or unknown for a dynamic frame.
FrameRule stack_size_rule(uint64_t stack_size) noexcept {
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
bool needs_register(RootLoc loc) noexcept {
    return loc.kind() == RootLoc::kRegister ||
           (loc.kind() == RootLoc::kMemory && loc.dwarf_reg() != kDwarfRsp &&
            loc.dwarf_reg() != kDwarfRbp);
}

bool looks_like_statepoint(const RecordView& rec) noexcept {
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

// Builds the index in one pass over the records. The happy path allocates nothing per record and
// formats no text: error messages are made only when something is wrong.
class Builder {
  public:
    explicit Builder(FrameIndex::Impl& impl) : impl_(impl), rules_(impl.rules) {}

    Status run() {
        if (auto st = parse_all(); !st) return st;
        CallSiteInserter sites(impl_.table, num_records_);
        for (uint32_t i = 0; i < impl_.images.size(); ++i)
            if (auto st = add_image(i, sites); !st) return st;
        sites.flush();
        impl_.num_sites = sites.num_sites();
        impl_.home_slots = sites.home_slots();
        return finish();
    }

  private:
    // Parses every image's section that its caller did not parse; sizes the pools for what the
    // sections hold.
    Status parse_all() {
        uint64_t functions = 0;
        impl_.blobs.reserve(impl_.images.size());
        for (const ImageStackMaps& img : impl_.images) {
            std::shared_ptr<const std::vector<StackMapBlob>> blobs = img.blobs;
            if (!blobs) {
                auto parsed = parse_stackmap_section(img.section, img.name);
                if (!parsed) return parsed.error();
                blobs = std::make_shared<const std::vector<StackMapBlob>>(std::move(*parsed));
            }
            for (const auto& b : *blobs)
                num_records_ += b.num_records(), functions += b.num_functions();
            impl_.blobs.push_back(std::move(blobs));
        }
        impl_.roots.reserve(num_records_ * 2);
        impl_.frames.reserve(functions);
        return {};
    }

    Status add_image(uint32_t image_index, CallSiteInserter& sites) {
        ImageStackMaps& img = impl_.images[image_index];
        std::sort(
            img.functions.begin(), img.functions.end(),
            [](const FunctionRange& a, const FunctionRange& b) { return a.address < b.address; });
        std::sort(img.rules.begin(), img.rules.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        const std::vector<StackMapBlob>& blobs = *impl_.blobs[image_index];
        for (uint32_t b = 0; b < blobs.size(); ++b) {
            for (uint32_t f = 0; f < blobs[b].num_functions(); ++f) {
                auto fr = frame_record(img, image_index, blobs[b], b, f);
                if (!fr) return fr.error();
                if (auto st = add_records(img, blobs[b], &*fr, sites); !st) return st;
                impl_.frames.push_back(*fr);
            }
        }
        return {};
    }

    // Function f of blob b as a FrameRecord: absolute address, range, stack size (no rule yet).
    static Expected<FrameRecord> frame_record(const ImageStackMaps& img, uint32_t image_index,
                                              const StackMapBlob& blob, uint32_t b, uint32_t f) {
        const FunctionEntry fe = blob.function(f);
        FrameRecord fr{};
        fr.function_address = fe.address + static_cast<uint64_t>(img.load_bias);
        fr.stack_size = fe.stack_size;
        fr.image = image_index;
        fr.blob = b;
        fr.function = f;
        fr.first_record = static_cast<uint32_t>(blob.first_record_of(f));
        fr.num_records = static_cast<uint32_t>(fe.record_count);
        if (fe.stack_size == kDynamicStackSize) fr.flags |= kFrameDynamic;
        if (fr.function_address == 0 || fr.function_address > kAddressMask)
            return Error{
                img.name + ": blob " + std::to_string(b) + " function " + std::to_string(f) +
                " at " + hex(fr.function_address) +
                ": function address is not a usable absolute address (unrelocated stack maps?)"};
        auto known =
            std::lower_bound(img.functions.begin(), img.functions.end(), fr.function_address,
                             [](const FunctionRange& x, uint64_t a) { return x.address < a; });
        if (known != img.functions.end() && known->address == fr.function_address &&
            known->size > 0) {
            fr.function_size = known->size;
        } else {
            // Unsized: the range ends just after its last call site.
            uint32_t max_offset = 0;
            for (uint32_t r = 0; r < fr.num_records; ++r)
                max_offset =
                    std::max(max_offset, blob.record(fr.first_record + r).instruction_offset());
            fr.function_size = uint64_t{max_offset} + 1;
            fr.flags |= kFrameSizeUnknown;
        }
        return fr;
    }

    // Adds the call sites of function *fr; sets kFrameHasRule when CFI gave each one its rule.
    Status add_records(const ImageStackMaps& img, const StackMapBlob& blob, FrameRecord* fr,
                       CallSiteInserter& sites) {
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
            if (auto st = add_call_site(img, blob, rec, where, rule, sites); !st) return st;
        }
        if (all_rules) fr->flags |= kFrameHasRule;
        return {};
    }

    // Queues the call site of `rec`, with its roots when it is a statepoint record.
    Status add_call_site(const ImageStackMaps& img, const StackMapBlob& blob, const RecordView& rec,
                         const RecordWhere& where, uint32_t rule, CallSiteInserter& sites) {
        uint32_t first_root = CallSite::kPlainRoots, num_roots = 0; // no roots: plain
        bool statepoint = false;
        if (looks_like_statepoint(rec)) {
            if (auto sp = decode_statepoint(blob, rec, img.name)) {
                statepoint = true;
                if (auto st = roots_.encode(rec, *sp, where); !st) return st;
                first_root = static_cast<uint32_t>(impl_.roots.size());
                num_roots = static_cast<uint32_t>(roots_.pairs().size());
                bool plain = true;
                for (const RootPair& p : roots_.pairs()) {
                    impl_.roots.push_back(p); // short: cheaper than insert's memmove
                    plain &= p.base.bits == p.derived.bits && p.base.is_sp_slot();
                    impl_.register_roots |= needs_register(p.base) || needs_register(p.derived);
                }
                if (first_root & CallSite::kPlainRoots) return Error{where("root pool overflow")};
                if (plain && num_roots <= kMaxRootPairsPerFrame)
                    first_root |= CallSite::kPlainRoots;
            }
        }
        sites.add(CallSite{where.ra | (uint64_t{num_roots} << 48), first_root,
                           static_cast<uint16_t>(rule), CallSite::step_of(impl_.rules[rule])},
                  statepoint);
        return {};
    }

    // Sorts the functions and refuses overlapping ones; gives back unused pool capacity.
    Status finish() {
        std::sort(impl_.frames.begin(), impl_.frames.end(),
                  [](const FrameRecord& a, const FrameRecord& b) {
                      return a.function_address < b.function_address;
                  });
        for (size_t i = 1; i < impl_.frames.size(); ++i) {
            const FrameRecord& prev = impl_.frames[i - 1];
            const FrameRecord& next = impl_.frames[i];
            if (prev.function_address + prev.function_size > next.function_address)
                return Error{"function at " + hex(prev.function_address) + " (" +
                             impl_.images[prev.image].name + ") overlaps function at " +
                             hex(next.function_address) + " (" + impl_.images[next.image].name +
                             ")"};
        }
        impl_.table.shrink_to_fit(); // (after a tail grew)
        impl_.roots.shrink_to_fit();
        impl_.rules.shrink_to_fit();
        return {};
    }

    FrameIndex::Impl& impl_;
    RuleInterner rules_;
    RootEncoder roots_;
    uint64_t num_records_ = 0; // in every image's section
};

} // namespace

Expected<FrameIndex> FrameIndex::build(std::vector<ImageStackMaps> images) {
    auto impl = std::make_unique<Impl>();
    impl->images = std::move(images);
    if (auto st = Builder(*impl).run(); !st) return Error{st.message()};
    impl->root_offsets = LargeArray<int32_t>(impl->roots.size());
    for (size_t i = 0; i < impl->roots.size(); ++i)
        impl->root_offsets[i] = impl->roots[i].base.offset();
    static std::atomic<uint64_t> next_serial{1};
    impl->serial = next_serial.fetch_add(1, std::memory_order_relaxed);
    return FrameIndex(std::move(impl));
}

} // namespace gcwalk
