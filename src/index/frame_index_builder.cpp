// Builds the FrameRecord index from parsed stack maps (one FrameRecord per function, one call site
// per return address, its roots encoded, its frame rule interned, in one pass over the records:
// record_scan.hpp) or from packed frame tables (their call sites inserted as they are).
#include "call_site_table.hpp"
#include "frame_index_impl.hpp"
#include "record_scan.hpp"

#include <gcwalk/detail/format.hpp>
#include <gcwalk/frame_index.hpp>
#include <gcwalk/frame_table.hpp>
#include <gcwalk/statepoint.hpp>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <memory>
#include <utility>

namespace gcwalk {

Expected<FrameRecord> RecordScanner::frame_record(const ImageStackMaps& img, uint32_t image_index,
                                                  const StackMapBlob& blob, uint32_t b,
                                                  uint32_t f) {
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
    if (unusable_address(fr.function_address))
        return Error{unusable_function_address(img, b, f, fr.function_address)};
    auto known = std::lower_bound(img.functions.begin(), img.functions.end(), fr.function_address,
                                  [](const FunctionRange& x, uint64_t a) { return x.address < a; });
    if (known != img.functions.end() && known->address == fr.function_address && known->size > 0) {
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

std::string unusable_function_address(const ImageStackMaps& img, uint32_t blob, uint32_t function,
                                      uint64_t address) {
    return img.name + ": blob " + std::to_string(blob) + " function " + std::to_string(function) +
           " at " + hex(address) +
           ": function address is not a usable absolute address (unrelocated stack maps?)";
}

namespace {

// Builds the index in one pass over the records. The happy path allocates nothing per record and
// formats no text: error messages are made only when something is wrong.
class Builder {
  public:
    explicit Builder(FrameIndex::Impl& impl) : impl_(impl), scanner_(impl.rules) {}

    Status run() {
        if (auto st = parse_all(); !st) return st;
        CallSiteInserter sites(impl_.table, num_records_);
        sites_ = &sites;
        for (uint32_t i = 0; i < impl_.images.size(); ++i) {
            ImageStackMaps& img = impl_.images[i];
            Status st = img.table ? add_table(i, *img.table)
                                  : scanner_.scan(img, i, *impl_.blobs[i], *this);
            if (!st) return st;
        }
        sites.flush();
        impl_.num_sites = sites.num_sites();
        impl_.home_slots = sites.home_slots();
        return finish();
    }

    // RecordScanner's sink: queues the call site, with its roots when it is a statepoint record.
    Status site(const FrameRecord&, const ScannedSite& s) {
        uint32_t first_root = CallSite::kPlainRoots; // no roots: plain
        if (s.statepoint) {
            first_root = static_cast<uint32_t>(impl_.roots.size());
            for (const RootPair& p : s.roots) impl_.roots.push_back(p); // short: no memmove
            impl_.register_roots |= s.register_roots;
            if (first_root & CallSite::kPlainRoots) return Error{s.where("root pool overflow")};
            if (s.plain) first_root |= CallSite::kPlainRoots;
        }
        sites_->add(CallSite{s.where.ra | (uint64_t{s.roots.size()} << 48), first_root,
                             static_cast<uint16_t>(s.rule), CallSite::step_of(impl_.rules[s.rule])},
                    s.statepoint);
        return {};
    }
    void function(const FrameRecord& fr) { impl_.frames.push_back(fr); }

  private:
    // Parses every image's section that its caller did not parse; sizes the pools for what the
    // sections and tables hold. A packed image's blobs are made when first asked for (record()).
    Status parse_all() {
        uint64_t functions = 0;
        impl_.blobs.reserve(impl_.images.size());
        impl_.unpacked.resize(impl_.images.size());
        for (uint32_t i = 0; i < impl_.images.size(); ++i) {
            const ImageStackMaps& img = impl_.images[i];
            if (img.table) {
                num_records_ += img.table->sites.size(), functions += img.table->functions.size();
                impl_.blobs.push_back(nullptr);
                impl_.unpacked[i] = std::make_unique<FrameIndex::Impl::Unpacked>();
                continue;
            }
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

    // A packed image: its functions and call sites as the table has them (addresses moved by the
    // load bias), each distinct rule interned once, its roots appended to the pool whole. The
    // table was validated when it was parsed: what is left to check depends on the load bias.
    Status add_table(uint32_t image_index, const FrameTable& t) {
        const ImageStackMaps& img = impl_.images[image_index];
        std::vector<uint32_t> rule_of(t.rules.size());
        std::vector<uint16_t> step_of(t.rules.size());
        for (size_t r = 0; r < t.rules.size(); ++r) {
            rule_of[r] = scanner_.intern(t.rules[r]);
            step_of[r] = CallSite::step_of(impl_.rules[rule_of[r]]);
        }
        const uint64_t pool = impl_.roots.size();
        if (pool + t.roots.size() >= CallSite::kPlainRoots)
            return Error{img.name + ": root pool overflow"};
        impl_.roots.append(t.roots.data(), t.roots.size());
        for (const RootPair& p : t.roots) impl_.register_roots |= needs_register(p);
        const auto bias = static_cast<uint64_t>(img.load_bias);
        for (uint32_t f = 0; f < t.functions.size(); ++f) {
            const PackedFunction& pf = t.functions[f];
            const FrameRecord fr{
                pf.address + bias, pf.size,       pf.stack_size, pf.flags, image_index, 0, f,
                pf.first_record,   pf.num_records};
            if (unusable_address(fr.function_address))
                return Error{unusable_function_address(img, 0, f, fr.function_address)};
            for (uint32_t r = pf.first_record; r < pf.first_record + pf.num_records; ++r) {
                const PackedSite& rec = t.sites[r];
                const uint64_t ra = fr.function_address + rec.instruction_offset;
                if (ra > kAddressMask)
                    return Error{RecordWhere{img, 0, r, ra}("return address beyond 48 bits")};
                const bool statepoint = rec.site_flags & kPackedStatepoint;
                uint32_t first_root = statepoint ? static_cast<uint32_t>(pool + rec.first_root) : 0;
                if (!statepoint || (rec.site_flags & kPackedPlainRoots))
                    first_root |= CallSite::kPlainRoots;
                sites_->add(CallSite{ra | (uint64_t{rec.num_roots} << 48), first_root,
                                     static_cast<uint16_t>(rule_of[rec.rule]), step_of[rec.rule]},
                            statepoint);
            }
            impl_.frames.push_back(fr);
        }
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
    RecordScanner scanner_;
    CallSiteInserter* sites_ = nullptr;
    uint64_t num_records_ = 0; // in every image's section or table
};

} // namespace

Expected<FrameIndex> FrameIndex::build(std::vector<ImageStackMaps> images) {
    auto impl = std::make_unique<Impl>();
    impl->images = std::move(images);
    if (auto st = Builder(*impl).run(); !st) return Error{st.message()};
    impl->root_offsets = LargeArray<int16_t>(impl->roots.size());
    for (size_t i = 0; i < impl->roots.size(); ++i) {
        const int32_t off = impl->roots[i].base.offset(); // (a plain root's fits: plain_roots)
        impl->root_offsets[i] =
            off >= INT16_MIN && off <= INT16_MAX ? static_cast<int16_t>(off) : 0;
    }
    static std::atomic<uint64_t> next_serial{1};
    impl->serial = next_serial.fetch_add(1, std::memory_order_relaxed);
    return FrameIndex(std::move(impl));
}

} // namespace gcwalk
