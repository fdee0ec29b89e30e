// pack_frame_table: one image's stack maps scanned as the index builder scans them
// (record_scan.hpp), written into a packed frame table with constants, location lists, live-out
// lists and root lists uniqued, functions sorted by address and records by instruction offset.
#include "record_scan.hpp"

#include <gcwalk/frame_table.hpp>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>
#include <unordered_map>

namespace gcwalk {

namespace {

// Appends lists of trivially copyable entries to a table once each: an equal list already there
// is shared (its first index is answered).
template <class T> class ListInterner {
  public:
    explicit ListInterner(std::vector<T>& table) : table_(table) {}
    uint32_t intern(std::span<const T> list) {
        if (list.empty()) return 0;
        std::string key(reinterpret_cast<const char*>(list.data()), list.size_bytes());
        auto [it, fresh] = ids_.emplace(std::move(key), static_cast<uint32_t>(table_.size()));
        if (fresh) table_.insert(table_.end(), list.begin(), list.end());
        return it->second;
    }

  private:
    std::vector<T>& table_;
    std::unordered_map<std::string, uint32_t> ids_;
};

// A record's locations with every byte defined (Location has padding), so lists compare as bytes.
struct LocationKey {
    uint8_t kind, reserved = 0;
    uint16_t size, dwarf_reg, reserved1 = 0;
    int32_t offset;
};
struct LiveOutKey {
    uint16_t dwarf_reg;
    uint8_t size, reserved = 0;
};

// RecordScanner's sink: collects the table in scan order; finish() orders it.
class Packer {
  public:
    Packer(FrameTable& t, int64_t load_bias) : t_(t), bias_(static_cast<uint64_t>(load_bias)) {}

    Status site(const FrameRecord&, const ScannedSite& s) {
        PackedSite site{};
        PackedRecord r{};
        r.id = s.rec.id();
        site.instruction_offset = s.rec.instruction_offset();
        r.flags = s.rec.flags();
        site.site_flags = static_cast<uint16_t>((s.statepoint ? kPackedStatepoint : 0) |
                                                (s.plain ? kPackedPlainRoots : 0));
        locs_.clear();
        for (uint16_t i = 0; i < s.rec.num_locations(); ++i) {
            Location l = s.rec.location(i);
            if (l.kind == LocationKind::ConstantIndex)
                l.offset = static_cast<int32_t>(
                    constant(s.blob.constant(static_cast<uint32_t>(l.offset))));
            locs_.push_back({static_cast<uint8_t>(l.kind), 0, l.size, l.dwarf_reg, 0, l.offset});
        }
        r.first_location = location_lists_.intern(locs_);
        r.num_locations = static_cast<uint16_t>(locs_.size()); // (a v3 count)
        lives_.clear();
        for (uint16_t i = 0; i < s.rec.num_live_outs(); ++i) {
            const LiveOut l = s.rec.live_out(i);
            lives_.push_back({l.dwarf_reg, l.size, 0});
        }
        r.first_live_out = live_out_lists_.intern(lives_);
        r.num_live_outs = static_cast<uint16_t>(lives_.size());
        site.rule = s.rule;
        site.first_root = root_lists_.intern(s.roots);
        site.num_roots = static_cast<uint16_t>(s.roots.size()); // (at most 65535: CallSite)
        records_.push_back({site, r});
        return {};
    }
    void function(const FrameRecord& fr) {
        functions_.push_back({fr.function_address - bias_, fr.function_size, fr.stack_size,
                              fr.flags, static_cast<uint32_t>(records_.size() - fr.num_records),
                              fr.num_records});
    }

    // The functions by address, each one's records after the previous one's, by instruction
    // offset (stably: of two records at one return address the index keeps the same one).
    Status finish(const std::string& name) {
        std::vector<uint32_t> order(functions_.size());
        std::iota(order.begin(), order.end(), 0u);
        std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
            return functions_[a].address < functions_[b].address;
        });
        for (uint32_t i : order) {
            PackedFunction f = functions_[i];
            if (!t_.functions.empty()) {
                const PackedFunction& prev = t_.functions.back();
                if (prev.address + prev.size > f.address)
                    return Error{name + ": function at " + hex(prev.address) +
                                 " overlaps function at " + hex(f.address)};
            }
            const auto first = static_cast<uint32_t>(t_.sites.size());
            std::stable_sort(records_.begin() + f.first_record,
                             records_.begin() + f.first_record + f.num_records,
                             [](const Both& a, const Both& b) {
                                 return a.site.instruction_offset < b.site.instruction_offset;
                             });
            for (uint32_t r = f.first_record; r < f.first_record + f.num_records; ++r) {
                t_.sites.push_back(records_[r].site);
                t_.records.push_back(records_[r].record);
            }
            f.first_record = first;
            t_.functions.push_back(f);
        }
        t_.locations.reserve(location_table_.size());
        for (const LocationKey& k : location_table_)
            t_.locations.push_back(
                {static_cast<LocationKind>(k.kind), k.size, k.dwarf_reg, k.offset});
        for (const LiveOutKey& k : live_out_table_) t_.live_outs.push_back({k.dwarf_reg, k.size});
        return {};
    }

  private:
    uint32_t constant(uint64_t value) {
        auto [it, fresh] = constants_.emplace(value, static_cast<uint32_t>(t_.constants.size()));
        if (fresh) t_.constants.push_back(value);
        return it->second;
    }

    FrameTable& t_;
    const uint64_t bias_;
    std::vector<PackedFunction> functions_; // in scan order, first_record into records_
    struct Both {
        PackedSite site;
        PackedRecord record;
    };
    std::vector<Both> records_;
    std::unordered_map<uint64_t, uint32_t> constants_;
    std::vector<LocationKey> location_table_, locs_;
    std::vector<LiveOutKey> live_out_table_, lives_;
    ListInterner<LocationKey> location_lists_{location_table_};
    ListInterner<LiveOutKey> live_out_lists_{live_out_table_};
    ListInterner<RootPair> root_lists_{t_.roots};
};

} // namespace

Expected<FrameTable> pack_frame_table(const ImageStackMaps& image, FrameTableIdentity identity) {
    if (image.table) {
        FrameTable t = *image.table;
        if (auto st = inflate_deferred_tables(t); !st) return Error{st.message()};
        t.identity = std::move(identity);
        return t;
    }
    std::shared_ptr<const std::vector<StackMapBlob>> blobs = image.blobs;
    if (!blobs) {
        auto parsed = parse_stackmap_section(image.section, image.name);
        if (!parsed) return parsed.error();
        blobs = std::make_shared<const std::vector<StackMapBlob>>(std::move(*parsed));
    }
    FrameTable t;
    t.identity = std::move(identity);
    ImageStackMaps img = image; // the scan sorts its functions and rules
    RecordScanner scanner(t.rules);
    Packer packer(t, image.load_bias);
    if (auto st = scanner.scan(img, 0, *blobs, packer); !st) return Error{st.message()};
    if (auto st = packer.finish(image.name); !st) return Error{st.message()};
    return t;
}

} // namespace gcwalk
