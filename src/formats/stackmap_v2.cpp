// The flat v2 stack map format (July 2015 llvm-dev proposal): reader with full validation, writer,
// and conversion from LLVM's version 3 blobs. Byte layout and decisions: docs/FORMATS.md.
#include <gcwalk/detail/format.hpp>
#include <gcwalk/frame_rule.hpp>
#include <gcwalk/stackmap_v2.hpp>

#include <algorithm>
#include <cstring>

namespace gcwalk {

namespace {

// Byte layout (docs/FORMATS.md), shared by the reader and the writer: each field's offset is the
// previous field's offset plus that field's size; `bytes` is an entry's size.
enum Table { kConstants, kFrames, kFrameRegs, kRecords, kLocations, kLiveOuts, kNumTables };
namespace layout {
struct Header { // u8 version, u8 reserved[3], one u32 offset per table
    static constexpr uint32_t version = 0;
    static constexpr uint32_t reserved = version + 1;
    static constexpr uint32_t table_offsets = reserved + 3;
    static constexpr uint32_t bytes = table_offsets + 4 * kNumTables;
};
inline constexpr uint32_t kConstantBytes = 8;
struct Frame {
    static constexpr uint32_t function_address = 0;
    static constexpr uint32_t function_size = function_address + 8;
    static constexpr uint32_t stack_size = function_size + 4;
    static constexpr uint32_t flags = stack_size + 4;
    static constexpr uint32_t frame_base_reg = flags + 2;
    static constexpr uint32_t num_frame_registers = frame_base_reg + 2;
    static constexpr uint32_t frame_register_index = num_frame_registers + 2;
    static constexpr uint32_t num_records = frame_register_index + 2;
    static constexpr uint32_t record_index = num_records + 2;
    static constexpr uint32_t bytes = record_index + 2;
};
struct FrameRegister {
    static constexpr uint32_t dwarf_reg = 0;
    static constexpr uint32_t offset = dwarf_reg + 2;
    static constexpr uint32_t size = offset + 2;
    static constexpr uint32_t flags = size + 1;
    static constexpr uint32_t bytes = flags + 1;
};
struct Record {
    static constexpr uint32_t id = 0;
    static constexpr uint32_t instruction_offset = id + 8;
    static constexpr uint32_t call_size = instruction_offset + 4;
    static constexpr uint32_t flags = call_size + 1;
    static constexpr uint32_t num_locations = flags + 1;
    static constexpr uint32_t location_index = num_locations + 2;
    static constexpr uint32_t num_live_outs = location_index + 2;
    static constexpr uint32_t live_out_index = num_live_outs + 2;
    static constexpr uint32_t bytes = live_out_index + 2;
};
struct Location { // no size field: the proposal dropped it
    static constexpr uint32_t kind = 0;
    static constexpr uint32_t flags = kind + 1;
    static constexpr uint32_t dwarf_reg = flags + 1;
    static constexpr uint32_t offset = dwarf_reg + 2;
    static constexpr uint32_t bytes = offset + 4;
};
struct LiveOut {
    static constexpr uint32_t dwarf_reg = 0;
    static constexpr uint32_t reserved = dwarf_reg + 2;
    static constexpr uint32_t size = reserved + 1;
    static constexpr uint32_t bytes = size + 1;
};
static_assert(Header::bytes == 28 && Frame::bytes == 28 && FrameRegister::bytes == 6 &&
              Record::bytes == 22 && Location::bytes == 8 && LiveOut::bytes == 4);
} // namespace layout

constexpr const char* kTableName[kNumTables] = {
    "constants", "frame records", "frame registers", "stack map records", "locations", "live-outs"};
// The alignment each table starts at.
constexpr uint32_t kTableAlign[kNumTables] = {8, 8, 4, 8, 4, 2};
constexpr uint32_t kEntryBytes[kNumTables] = {layout::kConstantBytes,       layout::Frame::bytes,
                                              layout::FrameRegister::bytes, layout::Record::bytes,
                                              layout::Location::bytes,      layout::LiveOut::bytes};

// Register limits as in the v3 parser: addresses are based on 0-16 (up to the return address
// column), any x86-64 DWARF number (up to k7 = 125) may hold a value.
constexpr uint16_t kMaxAddressReg = kDwarfReturnAddress;
constexpr uint16_t kMaxDwarfReg = 125;

constexpr uint64_t align_up(uint64_t v, uint64_t a) {
    return (v + a - 1) / a * a;
}

template <class T> T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
template <class T> void store(std::vector<uint8_t>& out, uint64_t off, T v) {
    std::memcpy(out.data() + off, &v, sizeof v);
}

// Reads the tables in file order. Constants and frame records fill the space up to the next
// table; the other tables are as long as the entries that reference them say, so each reader
// returns how far the entries it read reach into the next table.
class V2Reader {
  public:
    V2Reader(std::span<const uint8_t> b, std::string_view source) : b_(b), source_(source) {}

    Expected<StackMapV2> run() {
        StackMapV2 m;
        if (Status s = read_header(); !s) return Error{s.message()};
        read_constants(&m);
        uint64_t num_regs = 0, num_records = 0, num_locations = 0, num_live_outs = 0;
        if (Status s = read_frames(&m, &num_regs, &num_records); !s) return Error{s.message()};
        if (Status s = read_frame_registers(&m, num_regs); !s) return Error{s.message()};
        if (Status s = read_records(&m, num_records, &num_locations, &num_live_outs); !s)
            return Error{s.message()};
        if (Status s = read_locations(&m, num_locations); !s) return Error{s.message()};
        if (Status s = read_live_outs(&m, num_live_outs); !s) return Error{s.message()};
        return m;
    }

  private:
    // The version, and the table offsets in off_ (each aligned, in order, within the data).
    Status read_header() {
        if (b_.size() < layout::Header::bytes) return eod(0, "the header");
        if (b_[layout::Header::version] != 2) {
            if (b_[layout::Header::version] == 3)
                return fail("stack map version 3 at offset 0x0 is LLVM's .llvm_stackmaps format: "
                            "read it with "
                            "parse_stackmap_section");
            return fail(
                "unsupported flat stack map version %u at offset 0x0 (parse_v2 reads version 2)",
                unsigned{b_[layout::Header::version]});
        }
        if (b_[1] != 0 || b_[2] != 0 || b_[3] != 0)
            return fail("non-zero reserved header bytes at offset 0x1");
        for (int t = 0; t < kNumTables; ++t) {
            const uint64_t field = layout::Header::table_offsets + 4 * t;
            off_[t] = load<uint32_t>(b_.data() + field);
            if (off_[t] % kTableAlign[t] != 0)
                return fail("%s offset 0x%" PRIx64 " (at offset 0x%" PRIx64
                            ") is not a multiple of %u",
                            kTableName[t], off_[t], field, kTableAlign[t]);
            if (t == 0 && off_[t] < layout::Header::bytes)
                return fail("constants offset 0x%" PRIx64
                            " (at offset 0x4) overlaps the %u-byte header",
                            off_[t], layout::Header::bytes);
            if (t > 0 && off_[t] < off_[t - 1])
                return fail("%s offset 0x%" PRIx64 " (at offset 0x%" PRIx64
                            ") is before the %s offset 0x%" PRIx64,
                            kTableName[t], off_[t], field, kTableName[t - 1], off_[t - 1]);
            if (off_[t] > b_.size())
                return fail("%s offset 0x%" PRIx64 " (at offset 0x%" PRIx64
                            ") is past the end of the data (0x%zx bytes)",
                            kTableName[t], off_[t], field, b_.size());
        }
        off_[kNumTables] = b_.size();
        return {};
    }

    // Entry i of table t.
    const uint8_t* entry(int t, size_t i) const { return b_.data() + off_[t] + kEntryBytes[t] * i; }
    uint64_t entry_offset(int t, size_t i) const { return off_[t] + kEntryBytes[t] * i; }

    void read_constants(StackMapV2* m) {
        m->constants.resize((off_[kFrames] - off_[kConstants]) / layout::kConstantBytes);
        for (size_t i = 0; i < m->constants.size(); ++i)
            m->constants[i] = load<uint64_t>(entry(kConstants, i));
    }

    // Sets *num_regs and *num_records to the frame registers and records the frames reference.
    Status read_frames(StackMapV2* m, uint64_t* num_regs, uint64_t* num_records) {
        const uint64_t frame_bytes = off_[kFrameRegs] - off_[kFrames];
        if (frame_bytes % layout::Frame::bytes != 0)
            return fail("the frame record table at offset 0x%" PRIx64 " is %" PRIu64
                        " bytes, not a multiple of %u",
                        off_[kFrames], frame_bytes, layout::Frame::bytes);
        m->frames.resize(frame_bytes / layout::Frame::bytes);
        for (size_t i = 0; i < m->frames.size(); ++i) {
            const uint64_t at = entry_offset(kFrames, i);
            const uint8_t* p = entry(kFrames, i);
            V2FrameRecord& f = m->frames[i];
            f.function_address = load<uint64_t>(p + layout::Frame::function_address);
            f.function_size = load<uint32_t>(p + layout::Frame::function_size);
            f.stack_size = load<uint32_t>(p + layout::Frame::stack_size);
            f.flags = load<uint16_t>(p + layout::Frame::flags);
            f.frame_base_reg = load<uint16_t>(p + layout::Frame::frame_base_reg);
            f.num_frame_registers = load<uint16_t>(p + layout::Frame::num_frame_registers);
            f.frame_register_index = load<uint16_t>(p + layout::Frame::frame_register_index);
            f.num_records = load<uint16_t>(p + layout::Frame::num_records);
            f.record_index = load<uint16_t>(p + layout::Frame::record_index);
            if (f.flags & ~kV2FrameFlagsMask)
                return fail("frame record %zu at offset 0x%" PRIx64 " has unknown flags 0x%x", i,
                            at, unsigned{f.flags});
            if (f.frame_base_reg > kMaxAddressReg)
                return fail("frame record %zu at offset 0x%" PRIx64
                            ": frame base register %u is out of range (at most %u)",
                            i, at, unsigned{f.frame_base_reg}, unsigned{kMaxAddressReg});
            *num_regs = std::max<uint64_t>(*num_regs, uint64_t{f.frame_register_index} +
                                                          f.num_frame_registers);
            *num_records =
                std::max<uint64_t>(*num_records, uint64_t{f.record_index} + f.num_records);
        }
        return {};
    }

    Status read_frame_registers(StackMapV2* m, uint64_t num_regs) {
        if (Status s = table_extent(kFrameRegs, num_regs, "frame records"); !s) return s;
        m->frame_registers.resize(num_regs);
        for (size_t i = 0; i < num_regs; ++i) {
            const uint64_t at = entry_offset(kFrameRegs, i);
            const uint8_t* p = entry(kFrameRegs, i);
            V2FrameRegister& r = m->frame_registers[i];
            r.dwarf_reg = load<uint16_t>(p + layout::FrameRegister::dwarf_reg);
            r.offset = load<int16_t>(p + layout::FrameRegister::offset);
            r.size = p[layout::FrameRegister::size];
            r.flags = p[layout::FrameRegister::flags];
            if (r.dwarf_reg > kMaxDwarfReg)
                return fail("frame register %zu at offset 0x%" PRIx64
                            ": register %u is out of range (at most %u)",
                            i, at, unsigned{r.dwarf_reg}, unsigned{kMaxDwarfReg});
            if (r.size == 0)
                return fail("frame register %zu at offset 0x%" PRIx64 " has size 0", i, at);
            if (r.flags & ~kV2IsSpilled)
                return fail("frame register %zu at offset 0x%" PRIx64 " has unknown flags 0x%x", i,
                            at, unsigned{r.flags});
        }
        return {};
    }

    // Sets *num_locations and *num_live_outs to the entries the records reference.
    Status read_records(StackMapV2* m, uint64_t num_records, uint64_t* num_locations,
                        uint64_t* num_live_outs) {
        if (Status s = table_extent(kRecords, num_records, "frame records"); !s) return s;
        m->records.resize(num_records);
        for (size_t i = 0; i < num_records; ++i) {
            const uint64_t at = entry_offset(kRecords, i);
            const uint8_t* p = entry(kRecords, i);
            V2Record& r = m->records[i];
            r.id = load<uint64_t>(p + layout::Record::id);
            r.instruction_offset = load<uint32_t>(p + layout::Record::instruction_offset);
            r.call_size = p[layout::Record::call_size];
            r.flags = p[layout::Record::flags];
            r.num_locations = load<uint16_t>(p + layout::Record::num_locations);
            r.location_index = load<uint16_t>(p + layout::Record::location_index);
            r.num_live_outs = load<uint16_t>(p + layout::Record::num_live_outs);
            r.live_out_index = load<uint16_t>(p + layout::Record::live_out_index);
            if (r.flags & ~kV2RecordHasLiveOutInfo)
                return fail("stack map record %zu at offset 0x%" PRIx64 " has unknown flags 0x%x",
                            i, at, unsigned{r.flags});
            *num_locations =
                std::max<uint64_t>(*num_locations, uint64_t{r.location_index} + r.num_locations);
            *num_live_outs =
                std::max<uint64_t>(*num_live_outs, uint64_t{r.live_out_index} + r.num_live_outs);
        }
        return {};
    }

    Status read_locations(StackMapV2* m, uint64_t num_locations) {
        if (Status s = table_extent(kLocations, num_locations, "stack map records"); !s) return s;
        m->locations.resize(num_locations);
        for (size_t i = 0; i < num_locations; ++i) {
            const uint64_t at = entry_offset(kLocations, i);
            const uint8_t* p = entry(kLocations, i);
            const uint8_t kind = p[layout::Location::kind];
            V2Location& l = m->locations[i];
            l.flags = p[layout::Location::flags];
            l.dwarf_reg = load<uint16_t>(p + layout::Location::dwarf_reg);
            l.offset = load<int32_t>(p + layout::Location::offset);
            if (kind < 1 || kind > 5)
                return fail("location %zu at offset 0x%" PRIx64 " has invalid kind %u", i, at,
                            unsigned{kind});
            l.kind = static_cast<LocationKind>(kind);
            if (Status s = check_location(l, i, at, m->constants.size()); !s) return s;
        }
        return {};
    }

    // The checks of a location whose kind is valid.
    Status check_location(const V2Location& l, size_t i, uint64_t at, size_t num_constants) {
        if (l.flags != 0)
            return fail("location %zu at offset 0x%" PRIx64 " has non-zero flags 0x%x", i, at,
                        unsigned{l.flags});
        if (l.kind == LocationKind::ConstantIndex &&
            (l.offset < 0 || static_cast<uint64_t>(l.offset) >= num_constants))
            return fail("location %zu at offset 0x%" PRIx64
                        ": constant index %d out of range (%zu constants)",
                        i, at, l.offset, num_constants);
        const uint16_t max_reg = l.kind == LocationKind::Register ? kMaxDwarfReg : kMaxAddressReg;
        if ((l.kind == LocationKind::Register || l.kind == LocationKind::Direct ||
             l.kind == LocationKind::Indirect) &&
            l.dwarf_reg > max_reg)
            return fail("location %zu at offset 0x%" PRIx64
                        ": register %u is out of range for %s location (at most %u)",
                        i, at, unsigned{l.dwarf_reg}, with_article(l.kind), unsigned{max_reg});
        return {};
    }

    Status read_live_outs(StackMapV2* m, uint64_t num_live_outs) {
        if (Status s = table_extent(kLiveOuts, num_live_outs, "stack map records"); !s) return s;
        m->live_outs.resize(num_live_outs);
        for (size_t i = 0; i < num_live_outs; ++i) {
            const uint64_t at = entry_offset(kLiveOuts, i);
            const uint8_t* p = entry(kLiveOuts, i);
            V2LiveOut& o = m->live_outs[i];
            o.dwarf_reg = load<uint16_t>(p + layout::LiveOut::dwarf_reg);
            o.size = p[layout::LiveOut::size];
            if (o.dwarf_reg > kMaxDwarfReg)
                return fail("live-out %zu at offset 0x%" PRIx64
                            " names register %u, not an x86-64 DWARF register",
                            i, at, unsigned{o.dwarf_reg});
            if (p[layout::LiveOut::reserved] != 0)
                return fail("non-zero reserved byte in live-out %zu at offset 0x%" PRIx64, i, at);
            if (o.size == 0) return fail("live-out %zu at offset 0x%" PRIx64 " has size 0", i, at);
        }
        return {};
    }

    GCWALK_PRINTF(2, 3) Error fail(const char* fmt, ...) {
        std::va_list args;
        va_start(args, fmt);
        std::string what = vformat(fmt, args);
        va_end(args);
        return Error{blob_prefix(source_, 0, 0) + what};
    }
    Error eod(uint64_t off, const char* what) {
        return fail("unexpected end of data at offset 0x%" PRIx64 " while reading %s", off, what);
    }
    Error eod(uint64_t off, const std::string& what) { return eod(off, what.c_str()); }

    // Table t holds `count` entries (as many as `referrer` reference); they must end, up to the
    // next table's alignment in zero padding, exactly where the next table starts (the
    // live-outs: at the end of the blob).
    Status table_extent(int t, uint64_t count, const char* referrer) {
        const uint64_t each = kEntryBytes[t];
        const uint64_t end = off_[t] + count * each; // count < 2^17, each < 2^5: no overflow
        const uint64_t next = off_[t + 1];
        const char* next_name = t + 1 < kNumTables ? kTableName[t + 1] : "end of the data";
        if (end > next) {
            if (t + 1 == kNumTables)
                return eod(next, format("live-out %" PRIu64, (next - off_[t]) / each));
            return fail("the %s reference %" PRIu64 " %s (%" PRIu64 " bytes at offset 0x%" PRIx64
                        "), which run into the %s at offset 0x%" PRIx64,
                        referrer, count, kTableName[t], count * each, off_[t], next_name, next);
        }
        const uint64_t align = t + 1 < kNumTables ? kTableAlign[t + 1] : 1;
        if (align_up(end, align) != next)
            return fail("%" PRIu64 " bytes at offset 0x%" PRIx64 " after the %" PRIu64
                        " %s are referenced by nothing (every entry must be referenced)",
                        next - end, end, count, kTableName[t]);
        for (uint64_t i = end; i < next; ++i)
            if (b_[i] != 0)
                return fail("non-zero padding at offset 0x%" PRIx64 " after the %s", i,
                            kTableName[t]);
        return {};
    }

    std::span<const uint8_t> b_;
    std::string_view source_;
    uint64_t off_[kNumTables + 1] = {}; // where each table starts; the last: the end of the data
};

// Every entry of the index-linked tables must be referenced, or a reader could not know where
// the table ends; says which one is not, before anything is written.
Status check_references(const StackMapV2& m) {
    uint64_t regs = 0, recs = 0, locs = 0, outs = 0;
    for (const auto& f : m.frames) {
        regs = std::max<uint64_t>(regs, uint64_t{f.frame_register_index} + f.num_frame_registers);
        recs = std::max<uint64_t>(recs, uint64_t{f.record_index} + f.num_records);
    }
    for (const auto& r : m.records) {
        locs = std::max<uint64_t>(locs, uint64_t{r.location_index} + r.num_locations);
        outs = std::max<uint64_t>(outs, uint64_t{r.live_out_index} + r.num_live_outs);
    }
    const std::pair<uint64_t, size_t> extent[] = {{regs, m.frame_registers.size()},
                                                  {recs, m.records.size()},
                                                  {locs, m.locations.size()},
                                                  {outs, m.live_outs.size()}};
    for (int t = 0; t < 4; ++t) {
        if (extent[t].first > extent[t].second)
            return Error{format("an index refers to %s entry %" PRIu64 " but there are only %zu",
                                kTableName[kFrameRegs + t], extent[t].first - 1, extent[t].second)};
        if (extent[t].first < extent[t].second)
            return Error{format("%s entries from %" PRIu64 " on are referenced by nothing",
                                kTableName[kFrameRegs + t], extent[t].first)};
    }
    return {};
}

// Lays the tables out back to back, each at its alignment: off[t] is where table t starts,
// off[kNumTables] the size of the blob.
void table_offsets(const StackMapV2& m, uint64_t* off) {
    const size_t count[kNumTables] = {m.constants.size(),       m.frames.size(),
                                      m.frame_registers.size(), m.records.size(),
                                      m.locations.size(),       m.live_outs.size()};
    uint64_t end = layout::Header::bytes;
    for (int t = 0; t < kNumTables; ++t) {
        off[t] = align_up(end, kTableAlign[t]);
        end = off[t] + uint64_t{kEntryBytes[t]} * count[t];
    }
    off[kNumTables] = end;
}

// Writes each table's entries at off[t] of `out` (zeroed: padding and reserved fields stay 0).
class V2Writer {
  public:
    V2Writer(const StackMapV2& m, const uint64_t* off, std::vector<uint8_t>& out)
        : m_(m), off_(off), out_(out) {}

    void run() {
        out_[layout::Header::version] = 2;
        for (int t = 0; t < kNumTables; ++t)
            store<uint32_t>(out_, layout::Header::table_offsets + 4 * t,
                            static_cast<uint32_t>(off_[t]));
        for (size_t i = 0; i < m_.constants.size(); ++i)
            store<uint64_t>(out_, at(kConstants, i), m_.constants[i]);
        for (size_t i = 0; i < m_.frames.size(); ++i) frame(at(kFrames, i), m_.frames[i]);
        for (size_t i = 0; i < m_.frame_registers.size(); ++i)
            frame_register(at(kFrameRegs, i), m_.frame_registers[i]);
        for (size_t i = 0; i < m_.records.size(); ++i) record(at(kRecords, i), m_.records[i]);
        for (size_t i = 0; i < m_.locations.size(); ++i)
            location(at(kLocations, i), m_.locations[i]);
        for (size_t i = 0; i < m_.live_outs.size(); ++i)
            live_out(at(kLiveOuts, i), m_.live_outs[i]);
    }

  private:
    uint64_t at(int t, size_t i) const { return off_[t] + uint64_t{kEntryBytes[t]} * i; }

    void frame(uint64_t at, const V2FrameRecord& f) {
        store(out_, at + layout::Frame::function_address, f.function_address);
        store(out_, at + layout::Frame::function_size, f.function_size);
        store(out_, at + layout::Frame::stack_size, f.stack_size);
        store(out_, at + layout::Frame::flags, f.flags);
        store(out_, at + layout::Frame::frame_base_reg, f.frame_base_reg);
        store(out_, at + layout::Frame::num_frame_registers, f.num_frame_registers);
        store(out_, at + layout::Frame::frame_register_index, f.frame_register_index);
        store(out_, at + layout::Frame::num_records, f.num_records);
        store(out_, at + layout::Frame::record_index, f.record_index);
    }
    void frame_register(uint64_t at, const V2FrameRegister& r) {
        store(out_, at + layout::FrameRegister::dwarf_reg, r.dwarf_reg);
        store(out_, at + layout::FrameRegister::offset, r.offset);
        out_[at + layout::FrameRegister::size] = r.size;
        out_[at + layout::FrameRegister::flags] = r.flags;
    }
    void record(uint64_t at, const V2Record& r) {
        store(out_, at + layout::Record::id, r.id);
        store(out_, at + layout::Record::instruction_offset, r.instruction_offset);
        out_[at + layout::Record::call_size] = r.call_size;
        out_[at + layout::Record::flags] = r.flags;
        store(out_, at + layout::Record::num_locations, r.num_locations);
        store(out_, at + layout::Record::location_index, r.location_index);
        store(out_, at + layout::Record::num_live_outs, r.num_live_outs);
        store(out_, at + layout::Record::live_out_index, r.live_out_index);
    }
    void location(uint64_t at, const V2Location& l) {
        out_[at + layout::Location::kind] = static_cast<uint8_t>(l.kind);
        out_[at + layout::Location::flags] = l.flags;
        store(out_, at + layout::Location::dwarf_reg, l.dwarf_reg);
        store(out_, at + layout::Location::offset, l.offset);
    }
    void live_out(uint64_t at, const V2LiveOut& o) {
        store(out_, at + layout::LiveOut::dwarf_reg, o.dwarf_reg);
        out_[at + layout::LiveOut::size] = o.size;
    }

    const StackMapV2& m_;
    const uint64_t* off_;
    std::vector<uint8_t>& out_;
};

} // namespace

Expected<StackMapV2> parse_v2(std::span<const uint8_t> bytes, std::string_view source) {
    return V2Reader(bytes, source).run();
}

Expected<std::vector<uint8_t>> write_v2(const StackMapV2& m) {
    if (Status s = check_references(m); !s) return Error{"write_v2: " + s.message()};
    uint64_t off[kNumTables + 1];
    table_offsets(m, off);
    if (off[kNumTables] > UINT32_MAX) return Error{"write_v2: the blob would exceed 4 GiB"};
    std::vector<uint8_t> out(off[kNumTables], 0); // zero padding and reserved fields
    V2Writer(m, off, out).run();
    // The reader's checks (kinds, registers, constant indices, flags) are the writer's contract:
    // refuse what would not read back.
    auto back = parse_v2(out, "write_v2");
    if (!back) return Error{std::move(back).error().message};
    return out;
}

Expected<StackMapV2> v2_from_v3(const std::vector<StackMapBlob>& blobs,
                                std::span<const V2FunctionInfo> functions) {
    StackMapV2 m;
    auto fail = [](uint32_t blob, const std::string& what) {
        return Error{format("v2_from_v3: blob %u: ", blob) + what};
    };
    size_t fn_index = 0;
    for (const StackMapBlob& blob : blobs) {
        const uint32_t b = blob.index_in_section();
        const uint64_t constant_base = m.constants.size();
        for (uint32_t c = 0; c < blob.num_constants(); ++c) m.constants.push_back(blob.constant(c));
        if (constant_base + blob.num_constants() > static_cast<uint64_t>(INT32_MAX))
            return fail(b, "more than 2^31 constants");
        for (uint32_t f = 0; f < blob.num_functions(); ++f, ++fn_index) {
            static const V2FunctionInfo kNone{};
            const V2FunctionInfo& info = fn_index < functions.size() ? functions[fn_index] : kNone;
            const FunctionEntry fe = blob.function(f);
            V2FrameRecord fr{};
            fr.function_address = fe.address;
            fr.function_size = info.function_size;
            if (fe.stack_size == kDynamicStackSize) {
                fr.stack_size = kV2DynamicStackSize;
            } else if (fe.stack_size >= kV2DynamicStackSize) {
                return fail(b, format("function %u: stack size %" PRIu64 " does not fit in 32 bits",
                                      f, fe.stack_size));
            } else {
                fr.stack_size = static_cast<uint32_t>(fe.stack_size);
            }
            fr.flags = static_cast<uint16_t>(
                info.flags & (kV2HasFrame | kV2HasVariableSizeAlloca | kV2HasStackRealignment));
            fr.frame_base_reg = info.frame_base_reg;
            if (info.frame_registers.size() > UINT16_MAX ||
                (!info.frame_registers.empty() && m.frame_registers.size() > UINT16_MAX))
                return fail(
                    b,
                    format("function %u: frame register index exceeds the v2 limit of 65535", f));
            fr.frame_register_index =
                static_cast<uint16_t>(info.frame_registers.empty() ? 0 : m.frame_registers.size());
            fr.num_frame_registers = static_cast<uint16_t>(info.frame_registers.size());
            m.frame_registers.insert(m.frame_registers.end(), info.frame_registers.begin(),
                                     info.frame_registers.end());
            if (fe.record_count > UINT16_MAX || m.records.size() > UINT16_MAX)
                return fail(b, format("function %u: more than 65535 records, which v2's u16 record "
                                      "index cannot reach",
                                      f));
            fr.record_index = static_cast<uint16_t>(fe.record_count == 0 ? 0 : m.records.size());
            fr.num_records = static_cast<uint16_t>(fe.record_count);
            const uint64_t first = blob.first_record_of(f);
            for (uint64_t k = 0; k < fe.record_count; ++k) {
                const RecordView rec = blob.record(static_cast<uint32_t>(first + k));
                V2Record r{};
                r.id = rec.id();
                r.instruction_offset = rec.instruction_offset();
                r.call_size = k < info.call_sizes.size() ? info.call_sizes[k] : 0;
                r.flags = rec.num_live_outs() > 0 ? kV2RecordHasLiveOutInfo : 0;
                if (rec.num_live_outs() > 0) fr.flags |= kV2HasLiveOutInfo;
                if (m.locations.size() > UINT16_MAX || m.live_outs.size() > UINT16_MAX)
                    return fail(b, format("record %" PRIu64
                                          ": more than 65535 locations or live-outs in total, "
                                          "which v2's u16 indices cannot reach",
                                          first + k));
                r.num_locations = rec.num_locations();
                r.location_index =
                    static_cast<uint16_t>(rec.num_locations() == 0 ? 0 : m.locations.size());
                r.num_live_outs = rec.num_live_outs();
                r.live_out_index =
                    static_cast<uint16_t>(rec.num_live_outs() == 0 ? 0 : m.live_outs.size());
                for (uint16_t l = 0; l < rec.num_locations(); ++l) {
                    const Location loc = rec.location(l);
                    int32_t offset = loc.offset;
                    if (loc.kind == LocationKind::ConstantIndex)
                        offset += static_cast<int32_t>(constant_base);
                    m.locations.push_back(V2Location{loc.kind, 0, loc.dwarf_reg, offset});
                }
                for (uint16_t i = 0; i < rec.num_live_outs(); ++i)
                    m.live_outs.push_back(
                        V2LiveOut{rec.live_out(i).dwarf_reg, rec.live_out(i).size});
                m.records.push_back(r);
            }
            m.frames.push_back(fr);
        }
    }
    // An empty range at index 0 is referenced by nothing; when a table is empty the writer needs
    // no entry either way, so the model stays consistent.
    return m;
}

} // namespace gcwalk
