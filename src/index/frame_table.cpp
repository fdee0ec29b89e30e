// The packed frame table's byte layout (docs/FORMATS.md, "Frame tables"): its writer, its
// validating reader, its hash and identity check, and the version 3 blob made from a table for
// the index's cold path (record(), blob()).
#include "record_scan.hpp"
#include "rule_table.hpp"

#include <gcwalk/detail/format.hpp>
#include <gcwalk/detail/prefault.hpp>
#include <gcwalk/frame_chunks.hpp>
#include <gcwalk/frame_table.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <iterator>

namespace gcwalk {

namespace {

// Byte layout, written once: each field's offset is the previous one's plus its size.
namespace layout {
inline constexpr uint8_t kMagic[8] = {'G', 'C', 'W', 'F', 'R', 'A', 'M', 'E'};
inline constexpr uint32_t kVersion = 2;
// The tables, in the order they follow the header: the hot ones (what the index reads), then
// the cold ones (what record() reads), which a reader may leave compressed.
enum Table {
    kBuildId,
    kCode,
    kFunctions,
    kSites,
    kRules,
    kRoots,
    kConstants,
    kRecords,
    kLocations,
    kLiveOuts,
    kNumTables
};
inline constexpr int kFirstCold = kConstants;
struct Header {
    static constexpr uint32_t magic = 0;
    static constexpr uint32_t version = magic + 8;                // u32
    static constexpr uint32_t header_bytes = version + 4;         // u32: Header::bytes
    static constexpr uint32_t total_bytes = header_bytes + 4;     // u64: the whole table
    static constexpr uint32_t code_hash = total_bytes + 8;        // u64
    static constexpr uint32_t counts = code_hash + 8;             // u32 per table
    static constexpr uint32_t reserved = counts + 4 * kNumTables; // u32, 0
    static constexpr uint32_t bytes = reserved + 4;
};
struct Code {
    static constexpr uint32_t address = 0;
    static constexpr uint32_t size = address + 8;
    static constexpr uint32_t bytes = size + 8;
};
struct Function {
    static constexpr uint32_t address = 0;
    static constexpr uint32_t size = address + 8;
    static constexpr uint32_t stack_size = size + 8;
    static constexpr uint32_t flags = stack_size + 8;
    static constexpr uint32_t first_record = flags + 4;
    static constexpr uint32_t num_records = first_record + 4;
    static constexpr uint32_t reserved = num_records + 4;
    static constexpr uint32_t bytes = reserved + 4;
};
struct Site {
    static constexpr uint32_t instruction_offset = 0;
    static constexpr uint32_t site_flags = instruction_offset + 4;
    static constexpr uint32_t num_roots = site_flags + 2;
    static constexpr uint32_t rule = num_roots + 2;
    static constexpr uint32_t first_root = rule + 4;
    static constexpr uint32_t bytes = first_root + 4;
};
struct Record {
    static constexpr uint32_t id = 0;
    static constexpr uint32_t flags = id + 8;
    static constexpr uint32_t num_locations = flags + 2;
    static constexpr uint32_t num_live_outs = num_locations + 2;
    static constexpr uint32_t reserved = num_live_outs + 2;
    static constexpr uint32_t first_location = reserved + 2;
    static constexpr uint32_t first_live_out = first_location + 4;
    static constexpr uint32_t bytes = first_live_out + 4;
};
using Loc = v3::LocationLayout; // 12 bytes, as in version 3
using Live = v3::LiveOutLayout; // 4 bytes, as in version 3
struct Rule {
    static constexpr uint32_t cfa_offset = 0;
    static constexpr uint32_t cfa_reg = cfa_offset + 4;
    static constexpr uint32_t flags = cfa_reg + 1;
    static constexpr uint32_t saved = flags + 1; // i16[6]
    static constexpr uint32_t reserved = saved + 12;
    static constexpr uint32_t bytes = reserved + 2;
};
struct Root {
    static constexpr uint32_t base = 0;
    static constexpr uint32_t derived = base + 4;
    static constexpr uint32_t bytes = derived + 4;
};
inline constexpr uint32_t kEntryBytes[kNumTables] = {
    1,           Code::bytes, Function::bytes, Site::bytes, Rule::bytes,
    Root::bytes, 8,           Record::bytes,   Loc::bytes,  Live::bytes};
inline constexpr const char* kTableNames[kNumTables] = {
    "build ID", "code range", "function", "site",     "rule",
    "root",     "constant",   "record",   "location", "live-out"};
} // namespace layout

// The entries the reader copies whole are the structs' memory layout (x86-64, little-endian).
static_assert(sizeof(PackedFunction) == layout::Function::bytes &&
              offsetof(PackedFunction, size) == layout::Function::size &&
              offsetof(PackedFunction, stack_size) == layout::Function::stack_size &&
              offsetof(PackedFunction, flags) == layout::Function::flags &&
              offsetof(PackedFunction, first_record) == layout::Function::first_record &&
              offsetof(PackedFunction, num_records) == layout::Function::num_records);
static_assert(sizeof(PackedSite) == layout::Site::bytes &&
              offsetof(PackedSite, site_flags) == layout::Site::site_flags &&
              offsetof(PackedSite, num_roots) == layout::Site::num_roots &&
              offsetof(PackedSite, rule) == layout::Site::rule &&
              offsetof(PackedSite, first_root) == layout::Site::first_root);
static_assert(sizeof(PackedRecord) == layout::Record::bytes &&
              offsetof(PackedRecord, flags) == layout::Record::flags &&
              offsetof(PackedRecord, num_locations) == layout::Record::num_locations &&
              offsetof(PackedRecord, num_live_outs) == layout::Record::num_live_outs &&
              offsetof(PackedRecord, reserved) == layout::Record::reserved &&
              offsetof(PackedRecord, first_location) == layout::Record::first_location &&
              offsetof(PackedRecord, first_live_out) == layout::Record::first_live_out);
static_assert(sizeof(PackedLocation) == layout::Loc::bytes &&
              offsetof(PackedLocation, size) == layout::Loc::size &&
              offsetof(PackedLocation, dwarf_reg) == layout::Loc::dwarf_reg &&
              offsetof(PackedLocation, offset) == layout::Loc::offset);
static_assert(sizeof(RootPair) == layout::Root::bytes && sizeof(RootLoc) == 4 &&
              offsetof(RootPair, derived) == layout::Root::derived);

uint64_t align8(uint64_t n) noexcept {
    return (n + 7) & ~uint64_t{7};
}

template <class T> T load(const uint8_t* p) noexcept {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
template <class T> void store(uint8_t* p, T v) noexcept {
    std::memcpy(p, &v, sizeof v);
}

// A location and a live-out as version 3 lays them out (the table's entries are the same).
void store_location(uint8_t* q, const Location& l) noexcept {
    using L = v3::LocationLayout;
    q[L::kind] = static_cast<uint8_t>(l.kind);
    store(q + L::size, l.size);
    store(q + L::dwarf_reg, l.dwarf_reg);
    store(q + L::offset, l.offset);
}
void store_live_out(uint8_t* q, const LiveOut& l) noexcept {
    store(q + v3::LiveOutLayout::dwarf_reg, l.dwarf_reg);
    q[v3::LiveOutLayout::size] = l.size;
}

// Where each table starts, from the counts (64-bit arithmetic: no count overflows it).
struct Offsets {
    uint64_t start[layout::kNumTables];
    uint64_t end; // of the whole table, 8-aligned
};
Offsets table_offsets(const uint32_t (&counts)[layout::kNumTables]) noexcept {
    Offsets o{};
    uint64_t at = layout::Header::bytes;
    for (int t = 0; t < layout::kNumTables; ++t) {
        o.start[t] = at;
        at = align8(at + uint64_t{counts[t]} * layout::kEntryBytes[t]);
    }
    o.end = at;
    return o;
}

// The hash's parts (frame_table_hash): a byte-wise polynomial in kPrime, which continues exactly
// from any split point, computed eight bytes at a time, then an invertible finaliser, which
// the next call undoes on its seed.
constexpr uint64_t kPrime = 0x9E3779B97F4A7C15ull;
constexpr uint64_t power(uint64_t p, unsigned n) {
    uint64_t r = 1;
    while (n--) r *= p;
    return r;
}
constexpr uint64_t inverse(uint64_t a) { // of an odd number, mod 2^64 (Newton's iteration)
    uint64_t x = a;
    for (int i = 0; i < 6; ++i) x *= 2 - a * x;
    return x;
}
// b * P^(7 - j) for every byte value b at position j of an 8-byte word (16 KiB).
struct ByteTerms {
    uint64_t t[8][256];
};
constexpr ByteTerms byte_terms() {
    ByteTerms x{};
    for (unsigned j = 0; j < 8; ++j)
        for (unsigned b = 0; b < 256; ++b) x.t[j][b] = b * power(kPrime, 7 - j);
    return x;
}
constexpr ByteTerms kByteTerms = byte_terms();
constexpr uint64_t kMix1 = 0xff51afd7ed558ccdull, kMix2 = 0xc4ceb9fe1a85ec53ull;
static_assert(kMix1 * inverse(kMix1) == 1 && kMix2 * inverse(kMix2) == 1);
constexpr uint64_t mix(uint64_t h) noexcept {
    h ^= h >> 33;
    h *= kMix1;
    h ^= h >> 33;
    h *= kMix2;
    return h ^ (h >> 33);
}
constexpr uint64_t unmix(uint64_t h) noexcept { // mix's inverse (h ^ h >> 33 is its own)
    h ^= h >> 33;
    h *= inverse(kMix2);
    h ^= h >> 33;
    h *= inverse(kMix1);
    return h ^ (h >> 33);
}
static_assert(unmix(mix(0x123456789abcdef0ull)) == 0x123456789abcdef0ull);

bool is_callee_saved(uint32_t reg) noexcept {
    return std::find(std::begin(kCalleeSaved), std::end(kCalleeSaved), reg) !=
           std::end(kCalleeSaved);
}

std::string hex_bytes(std::span<const uint8_t> b) {
    std::string s;
    for (uint8_t x : b) s += format("%02x", x);
    return s.empty() ? "none" : s;
}

// The reader: every check before anything is used, messages naming the byte offset. It reads
// the hot tables, the cold ones, or both, from bytes that hold the payload from offset `base` on
// (0 for a whole payload; the cold tables' start for deferred ones).
class Reader {
  public:
    Reader(std::span<const uint8_t> p, std::string_view source, uint64_t base = 0)
        : p_(p), source_(source), base_(base) {}

    // The whole payload: every table.
    Expected<FrameTable> run() {
        if (auto st = header(p_, true); !st) return Error{st.message()};
        FrameTable t;
        if (auto st = read_hot(t); !st) return Error{st.message()};
        if (auto st = read_cold(t); !st) return Error{st.message()};
        if (auto st = check_hot(t); !st) return Error{st.message()};
        if (auto st = check_cold(t); !st) return Error{st.message()};
        return t;
    }

    // The header, from `h` (the payload's first Header::bytes at least). With `whole`, p_ is the
    // whole payload and its size must be the total; else the total is checked by the caller.
    Status header(std::span<const uint8_t> h, bool whole) {
        using H = layout::Header;
        if (h.size() < H::bytes)
            return fail(0, "unexpected end of data: " + std::to_string(h.size()) +
                               " bytes, the header alone is " + std::to_string(H::bytes));
        if (std::memcmp(h.data(), layout::kMagic, sizeof layout::kMagic) != 0)
            return fail(0, "no GCWFRAME magic: not a gcwalk frame table");
        if (uint32_t v = load<uint32_t>(&h[H::version]); v != layout::kVersion)
            return fail(H::version, "unsupported frame table version " + std::to_string(v) +
                                        " (gcwalk reads version " +
                                        std::to_string(layout::kVersion) + "): re-run gcwalk-pack");
        if (uint32_t n = load<uint32_t>(&h[H::header_bytes]); n != H::bytes)
            return fail(H::header_bytes, "header size " + std::to_string(n) + ", expected " +
                                             std::to_string(H::bytes));
        if (load<uint32_t>(&h[H::reserved]) != 0)
            return fail(H::reserved, "non-zero reserved header bytes");
        for (int t = 0; t < layout::kNumTables; ++t)
            counts_[t] = load<uint32_t>(&h[H::counts + 4 * t]);
        off_ = table_offsets(counts_);
        code_hash_ = load<uint64_t>(&h[H::code_hash]);
        total_ = load<uint64_t>(&h[H::total_bytes]);
        if (whole && total_ != p_.size())
            return fail(H::total_bytes, "the header says " + std::to_string(total_) +
                                            " bytes but the payload has " +
                                            std::to_string(p_.size()));
        if (off_.end != total_)
            return fail(H::counts, "the table counts need " + std::to_string(off_.end) +
                                       " bytes but the table has " + std::to_string(total_));
        if (counts_[layout::kRecords] != counts_[layout::kSites])
            return fail(H::counts + 4 * layout::kRecords,
                        std::to_string(counts_[layout::kRecords]) + " records but " +
                            std::to_string(counts_[layout::kSites]) + " sites (one each)");
        return {};
    }
    uint64_t total() const noexcept { return total_; }
    uint64_t cold_start() const noexcept { return off_.start[layout::kFirstCold]; }

    // The hot tables (p_ holds the payload up to the cold tables at least).
    Status read_hot(FrameTable& t) {
        using namespace layout;
        t.identity.code_hash = code_hash_;
        t.identity.build_id.assign(at(off_.start[kBuildId]),
                                   at(off_.start[kBuildId]) + counts_[kBuildId]);
        t.identity.code.resize(counts_[kCode]);
        for (uint32_t i = 0; i < counts_[kCode]; ++i) {
            const uint8_t* q = at(entry(kCode, i));
            t.identity.code[i] = {load<uint64_t>(q + Code::address),
                                  load<uint64_t>(q + Code::size)};
        }
        // Functions, sites, records, locations and roots: their entries are laid out as the
        // structs are in memory (the static_asserts above), so each table is one copy; reserved
        // bytes (the structs' padding) are checked in the bytes.
        copy_table(t.functions, kFunctions);
        for (uint32_t i = 0; i < counts_[kFunctions]; ++i)
            if (load<uint32_t>(at(entry(kFunctions, i)) + Function::reserved) != 0)
                return fail(entry(kFunctions, i) + Function::reserved,
                            "non-zero reserved bytes in function " + std::to_string(i));
        copy_table(t.sites, kSites);
        t.rules.resize(counts_[kRules]);
        for (uint32_t i = 0; i < counts_[kRules]; ++i) {
            const uint8_t* q = at(entry(kRules, i));
            if (load<uint16_t>(q + Rule::reserved) != 0)
                return fail(entry(kRules, i) + Rule::reserved,
                            "non-zero reserved bytes in rule " + std::to_string(i));
            FrameRule& r = t.rules[i];
            r.cfa_offset = load<int32_t>(q + Rule::cfa_offset);
            r.cfa_reg = q[Rule::cfa_reg];
            r.flags = q[Rule::flags];
            std::memcpy(r.saved, q + Rule::saved, sizeof r.saved);
        }
        copy_table(t.roots, kRoots);
        return padding(kBuildId, kFirstCold);
    }

    // The cold tables (p_ holds them).
    Status read_cold(FrameTable& t) {
        using namespace layout;
        copy_table(t.constants, kConstants);
        copy_table(t.records, kRecords);
        for (uint32_t i = 0; i < counts_[kRecords]; ++i)
            if (load<uint16_t>(at(entry(kRecords, i)) + Record::reserved) != 0)
                return fail(entry(kRecords, i) + Record::reserved,
                            "non-zero reserved bytes in record " + std::to_string(i));
        copy_table(t.locations, kLocations);
        for (uint32_t i = 0; i < counts_[kLocations]; ++i) {
            const uint8_t* q = at(entry(kLocations, i));
            if (q[Loc::reserved0] != 0 || load<uint16_t>(q + Loc::reserved1) != 0)
                return fail(entry(kLocations, i),
                            "non-zero reserved bytes in location " + std::to_string(i));
        }
        t.live_outs.resize(counts_[kLiveOuts]);
        for (uint32_t i = 0; i < counts_[kLiveOuts]; ++i) {
            const uint8_t* q = at(entry(kLiveOuts, i));
            if (q[Live::reserved] != 0)
                return fail(entry(kLiveOuts, i),
                            "non-zero reserved byte in live-out " + std::to_string(i));
            t.live_outs[i] = {load<uint16_t>(q + Live::dwarf_reg), q[Live::size]};
        }
        return padding(kFirstCold, kNumTables);
    }

    // What the hot tables claim of one another, and of the counts of the cold ones.
    Status check_hot(const FrameTable& t) {
        using namespace layout;
        for (uint32_t i = 0; i < t.identity.code.size(); ++i) {
            const auto& c = t.identity.code[i];
            if (c.address + c.size < c.address ||
                (i > 0 && t.identity.code[i - 1].address + t.identity.code[i - 1].size > c.address))
                return fail(entry(kCode, i), "code range " + std::to_string(i) +
                                                 " overflows or is not after the previous one");
        }
        if (t.rules.size() > CallSite::kMaxRules)
            return fail(Header::counts + 4 * kRules, std::to_string(t.rules.size()) +
                                                         " rules, more than an index holds (" +
                                                         std::to_string(CallSite::kMaxRules) + ")");
        for (uint32_t i = 0; i < t.rules.size(); ++i) {
            const FrameRule& r = t.rules[i];
            if ((r.flags & ~kRuleFromCfi) != 0 ||
                (r.cfa_reg != kDwarfRsp && r.cfa_reg != kRuleUnknown &&
                 !is_callee_saved(r.cfa_reg)))
                return fail(entry(kRules, i), "rule " + std::to_string(i) + " has flags " +
                                                  hex(r.flags) + " and CFA register " +
                                                  std::to_string(r.cfa_reg) +
                                                  " (a CFA is RSP or a callee-saved register)");
        }
        if (t.roots.size() >= (uint64_t{1} << 31))
            return fail(Header::counts + 4 * kRoots, "more roots than an index can hold");
        // Per root: how many before it break a plain list (not plain, or not after the previous
        // one), so that each site's claim of plain roots is checked in constant time.
        std::vector<uint32_t> breaks(t.roots.size() + 1, 0);
        for (uint32_t i = 0; i < t.roots.size(); ++i) {
            const RootPair& p = t.roots[i];
            if (auto st = check_root(p.base, entry(kRoots, i), i); !st) return st;
            if (auto st = check_root(p.derived, entry(kRoots, i) + 4, i); !st) return st;
            const bool brk = !plain_pair(p) || (i > 0 && t.roots[i - 1].base.bits >= p.base.bits);
            breaks[i + 1] = breaks[i] + (brk ? 1 : 0);
        }
        uint64_t next_record = 0;
        for (uint32_t f = 0; f < t.functions.size(); ++f) {
            const PackedFunction& fn = t.functions[f];
            const uint64_t at = entry(kFunctions, f);
            auto name = [&] { return "function " + std::to_string(f); }; // made on failure only
            if ((fn.flags & ~uint32_t{kFrameDynamic | kFrameSizeUnknown | kFrameHasRule}) != 0)
                return fail(at + Function::flags, name() + " has unknown flags " + hex(fn.flags));
            if (((fn.flags & kFrameDynamic) != 0) != (fn.stack_size == kDynamicStackSize))
                return fail(at + Function::flags,
                            name() + ": the dynamic-frame flag disagrees with its stack size");
            if (fn.address + fn.size < fn.address)
                return fail(at, name() + ": its range overflows 64 bits");
            if (f > 0) {
                const PackedFunction& prev = t.functions[f - 1];
                if (prev.address + prev.size > fn.address)
                    return fail(at, name() + " at " + hex(fn.address) +
                                        " is not after the end of the previous one at " +
                                        hex(prev.address + prev.size));
            }
            if (fn.first_record != next_record ||
                !in_range(fn.first_record, fn.num_records, t.sites.size()))
                return fail(at + Function::first_record,
                            name() + ": records " + std::to_string(fn.first_record) + " + " +
                                std::to_string(fn.num_records) +
                                " do not follow the previous "
                                "function's (next is " +
                                std::to_string(next_record) + " of " +
                                std::to_string(t.sites.size()) + ")");
            next_record += fn.num_records;
            for (uint32_t r = fn.first_record; r < fn.first_record + fn.num_records; ++r) {
                if (r > fn.first_record &&
                    t.sites[r - 1].instruction_offset > t.sites[r].instruction_offset)
                    return fail(entry(kSites, r), "site " + std::to_string(r) +
                                                      " is not sorted by instruction offset");
                if (auto st = check_site(t, r, breaks); !st) return st;
            }
        }
        if (next_record != t.sites.size())
            return fail(Header::counts + 4 * kSites, std::to_string(t.sites.size() - next_record) +
                                                         " sites belong to no function");
        return {};
    }

    // The cold tables, against themselves (their counts were checked against the hot ones').
    Status check_cold(const FrameTable& t) {
        using namespace layout;
        for (uint32_t i = 0; i < t.locations.size(); ++i)
            if (auto st = check_location(t, i); !st) return st;
        for (uint32_t i = 0; i < t.live_outs.size(); ++i) {
            const LiveOut& l = t.live_outs[i];
            if (l.dwarf_reg > 125 || l.size == 0)
                return fail(entry(kLiveOuts, i), "live-out " + std::to_string(i) +
                                                     " names register " +
                                                     std::to_string(l.dwarf_reg) + " with size " +
                                                     std::to_string(l.size) +
                                                     " (register at most 125, size at least 1)");
        }
        for (uint32_t i = 0; i < t.records.size(); ++i) {
            const PackedRecord& r = t.records[i];
            const uint64_t at = entry(kRecords, i);
            if (!in_range(r.first_location, r.num_locations, t.locations.size()))
                return fail(at + Record::first_location,
                            "record " + std::to_string(i) + ": locations " +
                                std::to_string(r.first_location) + " + " +
                                std::to_string(r.num_locations) + " past the table's " +
                                std::to_string(t.locations.size()));
            if (!in_range(r.first_live_out, r.num_live_outs, t.live_outs.size()))
                return fail(at + Record::first_live_out,
                            "record " + std::to_string(i) + ": live-outs " +
                                std::to_string(r.first_live_out) + " + " +
                                std::to_string(r.num_live_outs) + " past the table's " +
                                std::to_string(t.live_outs.size()));
        }
        return {};
    }

  private:
    // The byte at payload offset `offset` (which the counts placed inside p_).
    const uint8_t* at(uint64_t offset) const noexcept { return p_.data() + (offset - base_); }
    template <class T> void copy_table(std::vector<T>& v, int table) {
        v.reserve(counts_[table]);
        prefault(v.data(), counts_[table] * sizeof(T)); // one call, not a fault per page
        v.resize(counts_[table]);
        if (!v.empty()) std::memcpy(v.data(), at(off_.start[table]), v.size() * sizeof(T));
    }
    Error fail(uint64_t offset, const std::string& what) const {
        return Error{(source_.empty() ? std::string() : std::string(source_) + ": ") +
                     "frame table at offset " + hex(offset) + ": " + what};
    }
    uint64_t entry(int table, uint64_t i) const {
        return off_.start[table] + i * layout::kEntryBytes[table];
    }
    // Padding after each table in [from, to) (and after the build ID's bytes) is zero.
    Status padding(int from, int to) const {
        using namespace layout;
        for (int tb = from; tb < to; ++tb) {
            const uint64_t end = off_.start[tb] + uint64_t{counts_[tb]} * kEntryBytes[tb];
            const uint64_t next = tb + 1 < kNumTables ? off_.start[tb + 1] : off_.end;
            for (uint64_t a = end; a < next; ++a)
                if (*at(a) != 0)
                    return fail(a, std::string("non-zero padding after the ") + kTableNames[tb] +
                                       " table");
        }
        return {};
    }

    Status check_location(const FrameTable& t, uint32_t i) const {
        const PackedLocation& l = t.locations[i];
        const uint64_t at = entry(layout::kLocations, i);
        auto name = [&] { return "location " + std::to_string(i); }; // made on failure only
        const auto k = static_cast<uint8_t>(l.kind);
        if (k < 1 || k > 5) return fail(at, name() + " has invalid kind " + std::to_string(k));
        if (l.kind == LocationKind::ConstantIndex &&
            (l.offset < 0 || static_cast<uint64_t>(l.offset) >= t.constants.size()))
            return fail(at, name() + ": constant index " + std::to_string(l.offset) +
                                " out of range (" + std::to_string(t.constants.size()) +
                                " constants)");
        if (l.kind == LocationKind::Direct || l.kind == LocationKind::Indirect ||
            l.kind == LocationKind::Register) {
            const unsigned most = l.kind == LocationKind::Register ? 125 : 16;
            if (l.dwarf_reg > most)
                return fail(at, name() + ": register " + std::to_string(l.dwarf_reg) +
                                    " is out of range for " + with_article(l.kind) +
                                    " location (at most " + std::to_string(most) + ")");
            if (l.size == 0)
                return fail(at, name() + ": " + with_article(l.kind) + " location of size 0");
        }
        return {};
    }

    Status check_root(const RootLoc& r, uint64_t at, uint32_t i) const {
        auto name = [&] { return "root " + std::to_string(i); }; // made on failure only
        switch (r.kind()) {
        case RootLoc::kNone:
            if (r.bits != 0) return fail(at, name() + ": a constant root with bits " + hex(r.bits));
            return {};
        case RootLoc::kRegister:
            if (!is_callee_saved(r.dwarf_reg()) || r.offset() != 0)
                return fail(at, name() + ": register root R#" + std::to_string(r.dwarf_reg()) +
                                    " is not a callee-saved register's save slot");
            return {};
        case RootLoc::kMemory:
            if (r.dwarf_reg() > 16)
                return fail(at, name() + ": memory root at register " +
                                    std::to_string(r.dwarf_reg()) + " (at most 16)");
            return {};
        default: return fail(at, name() + ": invalid root kind 3");
        }
    }

    // A range [first, first + count) of a table with `size` entries.
    static bool in_range(uint64_t first, uint64_t count, uint64_t size) noexcept {
        return first <= size && count <= size - first;
    }

    // One site: flags, ranges and claims, all checks folded into one branch on the happy path.
    Status check_site(const FrameTable& t, uint32_t i, const std::vector<uint32_t>& breaks) {
        using namespace layout;
        const PackedSite& s = t.sites[i];
        const bool statepoint = s.site_flags & kPackedStatepoint;
        const bool bad_flags = (s.site_flags & ~uint32_t{kPackedStatepoint | kPackedPlainRoots});
        const bool bad_roots = !in_range(s.first_root, s.num_roots, t.roots.size());
        const bool bad_rule = s.rule >= t.rules.size();
        const bool roots_not_statepoint = s.num_roots > 0 && !statepoint;
        bool bad_plain = false;
        if ((s.site_flags & kPackedPlainRoots) && !bad_roots && s.num_roots > 0) {
            // Plain roots: each pair a base in an [RSP + offset] slot, in increasing order (no
            // two alike), at most what a frame's relocation takes. The first may follow anything.
            const uint32_t inner = breaks[s.first_root + s.num_roots] - breaks[s.first_root + 1];
            bad_plain = inner != 0 || !plain_pair(t.roots[s.first_root]) ||
                        s.num_roots > kMaxRootPairsPerFrame;
        }
        if (!(bad_flags | bad_roots | bad_rule | roots_not_statepoint | bad_plain)) return {};
        const uint64_t at = entry(kSites, i);
        const std::string name = "site " + std::to_string(i);
        if (bad_flags)
            return fail(at + Site::site_flags,
                        name + " has unknown site flags " + hex(s.site_flags));
        if (bad_roots)
            return fail(at + Site::first_root, name + ": roots " + std::to_string(s.first_root) +
                                                   " + " + std::to_string(s.num_roots) +
                                                   " past the table's " +
                                                   std::to_string(t.roots.size()));
        if (bad_rule)
            return fail(at + Site::rule, name + ": rule " + std::to_string(s.rule) +
                                             " out of range (" + std::to_string(t.rules.size()) +
                                             " rules)");
        if (roots_not_statepoint)
            return fail(at + Site::num_roots, name + ": " + std::to_string(s.num_roots) +
                                                  " roots, but only a statepoint record has roots");
        return fail(at + Site::site_flags, name + " claims plain roots, but its roots are not "
                                                  "distinct [RSP + offset] bases in order");
    }

    std::span<const uint8_t> p_;
    std::string_view source_;
    uint64_t base_ = 0;
    uint32_t counts_[layout::kNumTables] = {};
    Offsets off_{};
    uint64_t code_hash_ = 0, total_ = 0;
};

} // namespace

uint64_t frame_table_hash(std::span<const uint8_t> bytes, uint64_t seed) noexcept {
    constexpr uint64_t p8 = power(kPrime, 8);
    uint64_t h = unmix(seed);
    const uint8_t* p = bytes.data();
    size_t n = bytes.size();
    for (; n >= 8; p += 8, n -= 8) {
        // h * P^8 + b0 * P^7 + ... + b7: eight steps of h = h * P + b, the products looked up.
        const uint64_t w = load<uint64_t>(p);
        uint64_t sum = 0;
        for (unsigned j = 0; j < 8; ++j) sum += kByteTerms.t[j][(w >> (8 * j)) & 0xff];
        h = h * p8 + sum;
    }
    for (; n > 0; ++p, --n) h = h * kPrime + *p;
    return mix(h);
}

std::string check_build_id(const FrameTableIdentity& table,
                           std::span<const uint8_t> loaded_build_id) {
    if (!table.build_id.empty() && !loaded_build_id.empty() &&
        !std::equal(table.build_id.begin(), table.build_id.end(), loaded_build_id.begin(),
                    loaded_build_id.end()))
        return std::string(kFrameTableSection) + " was packed for build ID " +
               hex_bytes(table.build_id) + " but the image has build ID " +
               hex_bytes(loaded_build_id) + ": re-run gcwalk-pack on this build";
    return {};
}

std::string check_identity(const FrameTableIdentity& table,
                           std::span<const uint8_t> loaded_build_id, uint64_t load_bias) {
    if (std::string why = check_build_id(table, loaded_build_id); !why.empty()) return why;
    uint64_t h = 0, bytes = 0;
    for (const auto& c : table.code) {
        h = frame_table_hash({reinterpret_cast<const uint8_t*>(c.address + load_bias), c.size}, h);
        bytes += c.size;
    }
    if (h != table.code_hash)
        return std::string(kFrameTableSection) + " was packed for code hashing to " +
               hex(table.code_hash) + " but the image's code (" +
               std::to_string(table.code.size()) + " ranges, " + std::to_string(bytes) +
               " bytes) hashes to " + hex(h) + ": re-run gcwalk-pack on this build";
    return {};
}

struct DeferredFrameTables {
    std::vector<uint8_t> header;  // the payload's first layout::Header::bytes
    std::vector<uint8_t> section; // the whole .gcwalk_frames section
    size_t next_offset = 0;       // of the first chunk not inflated
    uint32_t next_chunk = 0;      // its index
    std::string name, source;     // for messages, as read_frame_table_section had them
};

bool FrameTable::operator==(const FrameTable& o) const {
    auto loc_eq = [](const Location& a, const Location& b) {
        return a.kind == b.kind && a.size == b.size && a.dwarf_reg == b.dwarf_reg &&
               a.offset == b.offset;
    };
    auto live_eq = [](const LiveOut& a, const LiveOut& b) {
        return a.dwarf_reg == b.dwarf_reg && a.size == b.size;
    };
    auto root_eq = [](const RootPair& a, const RootPair& b) {
        return a.base.bits == b.base.bits && a.derived.bits == b.derived.bits;
    };
    return identity == o.identity && functions == o.functions && sites == o.sites &&
           std::equal(rules.begin(), rules.end(), o.rules.begin(), o.rules.end(), rule_equal) &&
           std::equal(roots.begin(), roots.end(), o.roots.begin(), o.roots.end(), root_eq) &&
           constants == o.constants && records == o.records &&
           std::equal(locations.begin(), locations.end(), o.locations.begin(), o.locations.end(),
                      loc_eq) &&
           std::equal(live_outs.begin(), live_outs.end(), o.live_outs.begin(), o.live_outs.end(),
                      live_eq) &&
           deferred == o.deferred;
}

Expected<std::vector<uint8_t>> write_frame_table(const FrameTable& t) {
    using namespace layout;
    if (t.deferred) return Error{"write_frame_table: the table's cold tables are still compressed"};
    if (t.records.size() != t.sites.size())
        return Error{"write_frame_table: " + std::to_string(t.records.size()) + " records but " +
                     std::to_string(t.sites.size()) + " sites"};
    const size_t sizes[kNumTables] = {t.identity.build_id.size(),
                                      t.identity.code.size(),
                                      t.functions.size(),
                                      t.sites.size(),
                                      t.rules.size(),
                                      t.roots.size(),
                                      t.constants.size(),
                                      t.records.size(),
                                      t.locations.size(),
                                      t.live_outs.size()};
    uint32_t counts[kNumTables];
    for (int i = 0; i < kNumTables; ++i) {
        if (sizes[i] > UINT32_MAX)
            return Error{std::string("write_frame_table: more than 2^32 - 1 ") + kTableNames[i] +
                         " entries"};
        counts[i] = static_cast<uint32_t>(sizes[i]);
    }
    const Offsets off = table_offsets(counts);
    std::vector<uint8_t> out(off.end, 0);
    uint8_t* b = out.data();
    std::memcpy(b + Header::magic, kMagic, sizeof kMagic);
    store<uint32_t>(b + Header::version, kVersion);
    store<uint32_t>(b + Header::header_bytes, Header::bytes);
    store<uint64_t>(b + Header::total_bytes, off.end);
    store<uint64_t>(b + Header::code_hash, t.identity.code_hash);
    for (int i = 0; i < kNumTables; ++i) store<uint32_t>(b + Header::counts + 4 * i, counts[i]);
    auto at = [&](int table, size_t i) { return b + off.start[table] + i * kEntryBytes[table]; };
    if (counts[kBuildId])
        std::memcpy(at(kBuildId, 0), t.identity.build_id.data(), counts[kBuildId]);
    for (size_t i = 0; i < t.identity.code.size(); ++i) {
        store<uint64_t>(at(kCode, i) + Code::address, t.identity.code[i].address);
        store<uint64_t>(at(kCode, i) + Code::size, t.identity.code[i].size);
    }
    for (size_t i = 0; i < t.functions.size(); ++i) {
        const PackedFunction& f = t.functions[i];
        uint8_t* q = at(kFunctions, i);
        store(q + Function::address, f.address);
        store(q + Function::size, f.size);
        store(q + Function::stack_size, f.stack_size);
        store(q + Function::flags, f.flags);
        store(q + Function::first_record, f.first_record);
        store(q + Function::num_records, f.num_records);
    }
    for (size_t i = 0; i < t.sites.size(); ++i) {
        const PackedSite& s = t.sites[i];
        uint8_t* q = at(kSites, i);
        store(q + Site::instruction_offset, s.instruction_offset);
        store(q + Site::site_flags, s.site_flags);
        store(q + Site::num_roots, s.num_roots);
        store(q + Site::rule, s.rule);
        store(q + Site::first_root, s.first_root);
    }
    for (size_t i = 0; i < t.rules.size(); ++i) {
        const FrameRule& r = t.rules[i];
        uint8_t* q = at(kRules, i);
        store(q + Rule::cfa_offset, r.cfa_offset);
        q[Rule::cfa_reg] = r.cfa_reg;
        q[Rule::flags] = r.flags;
        std::memcpy(q + Rule::saved, r.saved, sizeof r.saved);
    }
    for (size_t i = 0; i < t.roots.size(); ++i) {
        store(at(kRoots, i) + Root::base, t.roots[i].base.bits);
        store(at(kRoots, i) + Root::derived, t.roots[i].derived.bits);
    }
    if (counts[kConstants])
        std::memcpy(at(kConstants, 0), t.constants.data(), 8 * t.constants.size());
    for (size_t i = 0; i < t.records.size(); ++i) {
        const PackedRecord& r = t.records[i];
        uint8_t* q = at(kRecords, i);
        store(q + Record::id, r.id);
        store(q + Record::flags, r.flags);
        store(q + Record::num_locations, r.num_locations);
        store(q + Record::num_live_outs, r.num_live_outs);
        store(q + Record::reserved, r.reserved);
        store(q + Record::first_location, r.first_location);
        store(q + Record::first_live_out, r.first_live_out);
    }
    for (size_t i = 0; i < t.locations.size(); ++i)
        store_location(at(kLocations, i), t.locations[i]);
    for (size_t i = 0; i < t.live_outs.size(); ++i)
        store_live_out(at(kLiveOuts, i), t.live_outs[i]);
    // What it wrote must read back: the reader's checks are the writer's.
    auto back = parse_frame_table(out, "write_frame_table");
    if (!back) return Error{back.error().message};
    return out;
}

Expected<FrameTable> parse_frame_table(std::span<const uint8_t> payload, std::string_view source) {
    return Reader(payload, source).run();
}

uint64_t frame_table_cold_offset(std::span<const uint8_t> payload) noexcept {
    Reader r(payload, {});
    try {
        if (!r.header(payload, true)) return 0;
    } catch (...) { // (only a message could not be made)
        return 0;
    }
    return r.cold_start();
}

Expected<FrameTable> read_frame_table_section(std::span<const uint8_t> section,
                                              std::string_view name, bool defer_cold) {
    const std::string source = std::string(name) + ": " + kFrameTableSection;
    std::vector<uint8_t> payload;
    size_t pos = 0;
    uint32_t chunk = 0;
    auto rest = [&]() -> Expected<FrameTable> { // every chunk, every table
        if (auto st = read_frame_chunks_from(section, name, &pos, &chunk, payload, UINT64_MAX); !st)
            return Error{st.message()};
        return parse_frame_table(payload, source);
    };
    if (!defer_cold) return rest();
    if (auto st =
            read_frame_chunks_from(section, name, &pos, &chunk, payload, layout::Header::bytes);
        !st)
        return Error{st.message()};
    Reader head(payload, source);
    if (payload.size() < layout::Header::bytes || !head.header(payload, false)) return rest();
    const uint64_t cold = head.cold_start();
    if (auto st = read_frame_chunks_from(section, name, &pos, &chunk, payload, cold); !st)
        return Error{st.message()};
    // No chunk ends at the cold tables, or none follows: nothing to leave compressed.
    if (payload.size() != cold || pos == section.size() || cold == head.total()) return rest();
    Reader r(payload, source);
    if (auto st = r.header(payload, false); !st) return Error{st.message()};
    FrameTable t;
    if (auto st = r.read_hot(t); !st) return Error{st.message()};
    if (auto st = r.check_hot(t); !st) return Error{st.message()};
    auto d = std::make_shared<DeferredFrameTables>();
    d->header.assign(payload.begin(), payload.begin() + layout::Header::bytes);
    d->section.assign(section.begin(), section.end());
    d->next_offset = pos;
    d->next_chunk = chunk;
    d->name = name;
    d->source = source;
    t.deferred = std::move(d);
    return t;
}

namespace {

// The cold tables of `t` read into `cold` (its other members left empty): from `t` itself, or
// inflated from its deferred chunks and checked.
Status cold_tables(const FrameTable& t, FrameTable& cold) {
    const DeferredFrameTables& d = *t.deferred;
    Reader r(d.header, d.source);
    if (auto st = r.header(d.header, false); !st) return st;
    const uint64_t base = r.cold_start(), want = r.total() - base;
    std::vector<uint8_t> bytes;
    size_t pos = d.next_offset;
    uint32_t chunk = d.next_chunk;
    if (auto st = read_frame_chunks_from(d.section, d.name, &pos, &chunk, bytes, UINT64_MAX,
                                         std::min<uint64_t>(want, kMaxFramePayload));
        !st)
        return st;
    if (bytes.size() != want)
        return Error{d.source + ": frame table: the header says " + std::to_string(r.total()) +
                     " bytes but the payload has " + std::to_string(base + bytes.size())};
    Reader cr(bytes, d.source, base);
    if (auto st = cr.header(d.header, false); !st) return st;
    if (auto st = cr.read_cold(cold); !st) return st;
    return cr.check_cold(cold);
}

} // namespace

Status inflate_deferred_tables(FrameTable& table) {
    if (!table.deferred) return {};
    FrameTable cold;
    if (auto st = cold_tables(table, cold); !st) return st;
    table.constants = std::move(cold.constants);
    table.records = std::move(cold.records);
    table.locations = std::move(cold.locations);
    table.live_outs = std::move(cold.live_outs);
    table.deferred.reset();
    return {};
}

Expected<std::vector<uint8_t>> v3_from_frame_table(const FrameTable& table) {
    using H = v3::HeaderLayout;
    using F = v3::FunctionLayout;
    using R = v3::RecordLayout;
    using L = v3::LocationLayout;
    using LH = v3::LiveOutHeaderLayout;
    using LO = v3::LiveOutLayout;
    FrameTable inflated;
    if (table.deferred)
        if (auto st = cold_tables(table, inflated); !st) return Error{st.message()};
    const FrameTable& c = table.deferred ? inflated : table; // its cold tables
    auto record_bytes = [](const PackedRecord& r) {
        return align8(align8(R::locations + uint64_t{L::bytes} * r.num_locations) + LH::bytes +
                      uint64_t{LO::bytes} * r.num_live_outs);
    };
    uint64_t size = H::bytes + uint64_t{F::bytes} * table.functions.size() + 8 * c.constants.size();
    for (const PackedRecord& r : c.records) size += record_bytes(r);
    if (c.records.size() != table.sites.size())
        return Error{"v3_from_frame_table: " + std::to_string(c.records.size()) + " records but " +
                     std::to_string(table.sites.size()) + " sites"};
    if (size >= (uint64_t{1} << 32) || table.functions.size() > UINT32_MAX)
        return Error{"v3_from_frame_table: the table makes a blob of 4 GiB or more"};
    std::vector<uint8_t> out(size, 0);
    uint8_t* b = out.data();
    b[H::version] = 3;
    store(b + H::num_functions, static_cast<uint32_t>(table.functions.size()));
    store(b + H::num_constants, static_cast<uint32_t>(c.constants.size()));
    store(b + H::num_records, static_cast<uint32_t>(c.records.size()));
    uint8_t* q = b + H::bytes;
    for (const PackedFunction& f : table.functions) {
        store(q + F::address, f.address);
        store(q + F::stack_size, f.stack_size);
        store(q + F::record_count, uint64_t{f.num_records});
        q += F::bytes;
    }
    if (!c.constants.empty()) std::memcpy(q, c.constants.data(), 8 * c.constants.size());
    q += 8 * c.constants.size();
    for (size_t i = 0; i < c.records.size(); ++i) {
        const PackedRecord& r = c.records[i];
        store(q + R::id, r.id);
        store(q + R::instruction_offset, table.sites[i].instruction_offset);
        store(q + R::flags, r.flags);
        store(q + R::num_locations, r.num_locations);
        for (uint32_t k = 0; k < r.num_locations; ++k)
            store_location(q + R::locations + L::bytes * k, c.locations[r.first_location + k]);
        uint8_t* lh = q + align8(R::locations + uint64_t{L::bytes} * r.num_locations);
        store(lh + LH::num_live_outs, r.num_live_outs);
        for (uint32_t k = 0; k < r.num_live_outs; ++k)
            store_live_out(lh + LH::bytes + LO::bytes * k, c.live_outs[r.first_live_out + k]);
        q += record_bytes(r);
    }
    return out;
}

} // namespace gcwalk
