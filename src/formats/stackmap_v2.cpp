// The flat v2 stack map format (July 2015 llvm-dev proposal): reader with full validation, writer,
// and conversion from LLVM's version 3 blobs. Byte layout and decisions: docs/FORMATS.md.
#include <gcwalk/detail/format.hpp>
#include <gcwalk/stackmap_v2.hpp>


#include <algorithm>
#include <cstring>

namespace gcwalk {

namespace {

// Byte layout (docs/FORMATS.md): entry sizes and the alignment each table starts at.
constexpr uint32_t kHeaderSize = 28;      // u8 version, u8 reserved[3], 6 x u32 table offsets
constexpr uint32_t kFrameRecordSize = 28; // u64 addr, u32 size, u32 stack, 6 x u16
constexpr uint32_t kFrameRegisterSize = 6;
constexpr uint32_t kRecordSize = 22;      // u64 id, u32 offset, u8 call size, u8 flags, 4 x u16
constexpr uint32_t kLocationSize = 8;     // u8 kind, u8 flags, u16 reg, i32 offset
constexpr uint32_t kLiveOutSize = 4;      // u16 reg, u8 reserved, u8 size

enum Table { kConstants, kFrames, kFrameRegs, kRecords, kLocations, kLiveOuts, kNumTables };
constexpr const char* kTableName[kNumTables] = {"constants", "frame records", "frame registers",
                                                "stack map records", "locations", "live-outs"};
constexpr uint32_t kTableAlign[kNumTables] = {8, 8, 4, 8, 4, 2};

// Register limits as in the v3 parser: addresses are based on 0-16, any x86-64 DWARF number
// (up to k7 = 125) may hold a value.
constexpr uint16_t kMaxAddressReg = 16;
constexpr uint16_t kMaxDwarfReg = 125;

constexpr uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

template <class T> T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
template <class T> void store(std::vector<uint8_t>& out, uint64_t off, T v) {
    std::memcpy(out.data() + off, &v, sizeof v);
}

class V2Reader {
public:
    V2Reader(std::span<const uint8_t> b, std::string_view source) : b_(b), source_(source) {}

    Expected<StackMapV2> run() {
        StackMapV2 m;
        if (b_.size() < kHeaderSize) return eod(0, "the header");
        if (b_[0] != 2) {
            if (b_[0] == 3)
                return fail("stack map version 3 at offset 0x0 is LLVM's .llvm_stackmaps format: read it with "
                            "parse_stackmap_section");
            return fail("unsupported flat stack map version %u at offset 0x0 (parse_v2 reads version 2)",
                        unsigned{b_[0]});
        }
        if (b_[1] != 0 || b_[2] != 0 || b_[3] != 0) return fail("non-zero reserved header bytes at offset 0x1");
        uint64_t off[kNumTables + 1];
        for (int t = 0; t < kNumTables; ++t) {
            off[t] = load<uint32_t>(b_.data() + 4 + 4 * t);
            const uint64_t field = 4 + 4 * t;
            if (off[t] % kTableAlign[t] != 0)
                return fail("%s offset 0x%" PRIx64 " (at offset 0x%" PRIx64 ") is not a multiple of %u",
                            kTableName[t], off[t], field, kTableAlign[t]);
            if (t == 0 && off[t] < kHeaderSize)
                return fail("constants offset 0x%" PRIx64 " (at offset 0x4) overlaps the %u-byte header", off[t],
                            kHeaderSize);
            if (t > 0 && off[t] < off[t - 1])
                return fail("%s offset 0x%" PRIx64 " (at offset 0x%" PRIx64 ") is before the %s offset 0x%" PRIx64,
                            kTableName[t], off[t], field, kTableName[t - 1], off[t - 1]);
            if (off[t] > b_.size())
                return fail("%s offset 0x%" PRIx64 " (at offset 0x%" PRIx64 ") is past the end of the data (0x%zx bytes)",
                            kTableName[t], off[t], field, b_.size());
        }
        off[kNumTables] = b_.size();

        // Constants and frame records fill the space up to the next table; the rest are as long
        // as the entries that reference them say.
        m.constants.resize((off[kFrames] - off[kConstants]) / 8);
        for (size_t i = 0; i < m.constants.size(); ++i) m.constants[i] = load<uint64_t>(b_.data() + off[kConstants] + 8 * i);

        const uint64_t frame_bytes = off[kFrameRegs] - off[kFrames];
        if (frame_bytes % kFrameRecordSize != 0)
            return fail("the frame record table at offset 0x%" PRIx64 " is %" PRIu64
                        " bytes, not a multiple of %u",
                        off[kFrames], frame_bytes, kFrameRecordSize);
        m.frames.resize(frame_bytes / kFrameRecordSize);
        uint64_t num_regs = 0, num_records = 0;
        for (size_t i = 0; i < m.frames.size(); ++i) {
            const uint64_t at = off[kFrames] + kFrameRecordSize * i;
            const uint8_t* p = b_.data() + at;
            V2FrameRecord& f = m.frames[i];
            f.function_address = load<uint64_t>(p);
            f.function_size = load<uint32_t>(p + 8);
            f.stack_size = load<uint32_t>(p + 12);
            f.flags = load<uint16_t>(p + 16);
            f.frame_base_reg = load<uint16_t>(p + 18);
            f.num_frame_registers = load<uint16_t>(p + 20);
            f.frame_register_index = load<uint16_t>(p + 22);
            f.num_records = load<uint16_t>(p + 24);
            f.record_index = load<uint16_t>(p + 26);
            if (f.flags & ~kV2FrameFlagsMask)
                return fail("frame record %zu at offset 0x%" PRIx64 " has unknown flags 0x%x", i, at,
                            unsigned{f.flags});
            if (f.frame_base_reg > kMaxAddressReg)
                return fail("frame record %zu at offset 0x%" PRIx64 ": frame base register %u is out of range (at most %u)",
                            i, at, unsigned{f.frame_base_reg}, unsigned{kMaxAddressReg});
            num_regs = std::max<uint64_t>(num_regs, uint64_t{f.frame_register_index} + f.num_frame_registers);
            num_records = std::max<uint64_t>(num_records, uint64_t{f.record_index} + f.num_records);
        }

        if (Status s = table_extent(kFrameRegs, off, num_regs, kFrameRegisterSize, "frame records"); !s)
            return Error{s.message()};
        m.frame_registers.resize(num_regs);
        for (size_t i = 0; i < num_regs; ++i) {
            const uint64_t at = off[kFrameRegs] + kFrameRegisterSize * i;
            const uint8_t* p = b_.data() + at;
            V2FrameRegister& r = m.frame_registers[i];
            r.dwarf_reg = load<uint16_t>(p);
            r.offset = load<int16_t>(p + 2);
            r.size = p[4];
            r.flags = p[5];
            if (r.dwarf_reg > kMaxDwarfReg)
                return fail("frame register %zu at offset 0x%" PRIx64 ": register %u is out of range (at most %u)", i,
                            at, unsigned{r.dwarf_reg}, unsigned{kMaxDwarfReg});
            if (r.size == 0) return fail("frame register %zu at offset 0x%" PRIx64 " has size 0", i, at);
            if (r.flags & ~kV2IsSpilled)
                return fail("frame register %zu at offset 0x%" PRIx64 " has unknown flags 0x%x", i, at,
                            unsigned{r.flags});
        }

        if (Status s = table_extent(kRecords, off, num_records, kRecordSize, "frame records"); !s)
            return Error{s.message()};
        m.records.resize(num_records);
        uint64_t num_locations = 0, num_live_outs = 0;
        for (size_t i = 0; i < num_records; ++i) {
            const uint64_t at = off[kRecords] + kRecordSize * i;
            const uint8_t* p = b_.data() + at;
            V2Record& r = m.records[i];
            r.id = load<uint64_t>(p);
            r.instruction_offset = load<uint32_t>(p + 8);
            r.call_size = p[12];
            r.flags = p[13];
            r.num_locations = load<uint16_t>(p + 14);
            r.location_index = load<uint16_t>(p + 16);
            r.num_live_outs = load<uint16_t>(p + 18);
            r.live_out_index = load<uint16_t>(p + 20);
            if (r.flags & ~kV2RecordHasLiveOutInfo)
                return fail("stack map record %zu at offset 0x%" PRIx64 " has unknown flags 0x%x", i, at,
                            unsigned{r.flags});
            num_locations = std::max<uint64_t>(num_locations, uint64_t{r.location_index} + r.num_locations);
            num_live_outs = std::max<uint64_t>(num_live_outs, uint64_t{r.live_out_index} + r.num_live_outs);
        }

        if (Status s = table_extent(kLocations, off, num_locations, kLocationSize, "stack map records"); !s)
            return Error{s.message()};
        m.locations.resize(num_locations);
        for (size_t i = 0; i < num_locations; ++i) {
            const uint64_t at = off[kLocations] + kLocationSize * i;
            const uint8_t* p = b_.data() + at;
            const uint8_t kind = p[0];
            V2Location& l = m.locations[i];
            l.flags = p[1];
            l.dwarf_reg = load<uint16_t>(p + 2);
            l.offset = load<int32_t>(p + 4);
            if (kind < 1 || kind > 5)
                return fail("location %zu at offset 0x%" PRIx64 " has invalid kind %u", i, at, unsigned{kind});
            l.kind = static_cast<LocationKind>(kind);
            if (l.flags != 0)
                return fail("location %zu at offset 0x%" PRIx64 " has non-zero flags 0x%x", i, at, unsigned{l.flags});
            if (l.kind == LocationKind::ConstantIndex &&
                (l.offset < 0 || static_cast<uint64_t>(l.offset) >= m.constants.size()))
                return fail("location %zu at offset 0x%" PRIx64 ": constant index %d out of range (%zu constants)", i,
                            at, l.offset, m.constants.size());
            const uint16_t max_reg = l.kind == LocationKind::Register ? kMaxDwarfReg : kMaxAddressReg;
            if ((l.kind == LocationKind::Register || l.kind == LocationKind::Direct ||
                 l.kind == LocationKind::Indirect) &&
                l.dwarf_reg > max_reg)
                return fail("location %zu at offset 0x%" PRIx64
                            ": register %u is out of range for %s location (at most %u)",
                            i, at, unsigned{l.dwarf_reg}, with_article(l.kind), unsigned{max_reg});
        }

        if (Status s = table_extent(kLiveOuts, off, num_live_outs, kLiveOutSize, "stack map records"); !s)
            return Error{s.message()};
        m.live_outs.resize(num_live_outs);
        for (size_t i = 0; i < num_live_outs; ++i) {
            const uint64_t at = off[kLiveOuts] + kLiveOutSize * i;
            const uint8_t* p = b_.data() + at;
            V2LiveOut& o = m.live_outs[i];
            o.dwarf_reg = load<uint16_t>(p);
            o.size = p[3];
            if (o.dwarf_reg > kMaxDwarfReg)
                return fail("live-out %zu at offset 0x%" PRIx64 " names register %u, not an x86-64 DWARF register",
                            i, at, unsigned{o.dwarf_reg});
            if (p[2] != 0) return fail("non-zero reserved byte in live-out %zu at offset 0x%" PRIx64, i, at);
            if (o.size == 0) return fail("live-out %zu at offset 0x%" PRIx64 " has size 0", i, at);
        }
        return m;
    }

private:
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

    // Table t holds `count` entries of `each` bytes (as many as `referrer` reference); they must
    // end, up to the next table's alignment in zero padding, exactly where the next table starts
    // (the live-outs: at the end of the blob).
    Status table_extent(int t, const uint64_t* off, uint64_t count, uint64_t each, const char* referrer) {
        const uint64_t end = off[t] + count * each; // count < 2^17, each < 2^5: no overflow
        const uint64_t next = off[t + 1];
        const char* next_name = t + 1 < kNumTables ? kTableName[t + 1] : "end of the data";
        if (end > next) {
            if (t + 1 == kNumTables)
                return eod(next, format("live-out %" PRIu64, (next - off[t]) / each).c_str());
            return fail("the %s reference %" PRIu64 " %s (%" PRIu64 " bytes at offset 0x%" PRIx64
                        "), which run into the %s at offset 0x%" PRIx64,
                        referrer, count, kTableName[t], count * each, off[t], next_name, next);
        }
        const uint64_t align = t + 1 < kNumTables ? kTableAlign[t + 1] : 1;
        if (align_up(end, align) != next)
            return fail("%" PRIu64 " bytes at offset 0x%" PRIx64 " after the %" PRIu64
                        " %s are referenced by nothing (every entry must be referenced)",
                        next - end, end, count, kTableName[t]);
        for (uint64_t i = end; i < next; ++i)
            if (b_[i] != 0) return fail("non-zero padding at offset 0x%" PRIx64 " after the %s", i, kTableName[t]);
        return {};
    }
    Error eod(uint64_t off, const std::string& what) { return eod(off, what.c_str()); }

    std::span<const uint8_t> b_;
    std::string_view source_;
};

} // namespace

Expected<StackMapV2> parse_v2(std::span<const uint8_t> bytes, std::string_view source) {
    return V2Reader(bytes, source).run();
}

Expected<std::vector<uint8_t>> write_v2(const StackMapV2& m) {
    auto fail = [](const std::string& what) { return Error{"write_v2: " + what}; };
    // Every entry of the index-linked tables must be referenced, or a reader could not know where
    // the table ends; say which one is not, before writing anything.
    uint64_t regs = 0, recs = 0, locs = 0, outs = 0;
    for (const auto& f : m.frames) {
        regs = std::max<uint64_t>(regs, uint64_t{f.frame_register_index} + f.num_frame_registers);
        recs = std::max<uint64_t>(recs, uint64_t{f.record_index} + f.num_records);
    }
    for (const auto& r : m.records) {
        locs = std::max<uint64_t>(locs, uint64_t{r.location_index} + r.num_locations);
        outs = std::max<uint64_t>(outs, uint64_t{r.live_out_index} + r.num_live_outs);
    }
    const std::pair<uint64_t, size_t> extent[] = {{regs, m.frame_registers.size()}, {recs, m.records.size()},
                                                  {locs, m.locations.size()}, {outs, m.live_outs.size()}};
    for (int t = 0; t < 4; ++t) {
        if (extent[t].first > extent[t].second)
            return fail(format("an index refers to %s entry %" PRIu64 " but there are only %zu",
                               kTableName[kFrameRegs + t], extent[t].first - 1, extent[t].second));
        if (extent[t].first < extent[t].second)
            return fail(format("%s entries from %" PRIu64 " on are referenced by nothing", kTableName[kFrameRegs + t],
                               extent[t].first));
    }

    uint64_t off[kNumTables + 1];
    off[kConstants] = align_up(kHeaderSize, kTableAlign[kConstants]);
    off[kFrames] = align_up(off[kConstants] + 8 * m.constants.size(), kTableAlign[kFrames]);
    off[kFrameRegs] = align_up(off[kFrames] + kFrameRecordSize * m.frames.size(), kTableAlign[kFrameRegs]);
    off[kRecords] = align_up(off[kFrameRegs] + kFrameRegisterSize * m.frame_registers.size(), kTableAlign[kRecords]);
    off[kLocations] = align_up(off[kRecords] + kRecordSize * m.records.size(), kTableAlign[kLocations]);
    off[kLiveOuts] = align_up(off[kLocations] + kLocationSize * m.locations.size(), kTableAlign[kLiveOuts]);
    off[kNumTables] = off[kLiveOuts] + kLiveOutSize * m.live_outs.size();
    if (off[kNumTables] > UINT32_MAX) return fail("the blob would exceed 4 GiB");

    std::vector<uint8_t> out(off[kNumTables], 0); // zero padding and reserved fields
    out[0] = 2;
    for (int t = 0; t < kNumTables; ++t) store<uint32_t>(out, 4 + 4 * t, static_cast<uint32_t>(off[t]));
    for (size_t i = 0; i < m.constants.size(); ++i) store<uint64_t>(out, off[kConstants] + 8 * i, m.constants[i]);
    for (size_t i = 0; i < m.frames.size(); ++i) {
        const uint64_t at = off[kFrames] + kFrameRecordSize * i;
        const V2FrameRecord& f = m.frames[i];
        store(out, at, f.function_address);
        store(out, at + 8, f.function_size);
        store(out, at + 12, f.stack_size);
        store(out, at + 16, f.flags);
        store(out, at + 18, f.frame_base_reg);
        store(out, at + 20, f.num_frame_registers);
        store(out, at + 22, f.frame_register_index);
        store(out, at + 24, f.num_records);
        store(out, at + 26, f.record_index);
    }
    for (size_t i = 0; i < m.frame_registers.size(); ++i) {
        const uint64_t at = off[kFrameRegs] + kFrameRegisterSize * i;
        const V2FrameRegister& r = m.frame_registers[i];
        store(out, at, r.dwarf_reg);
        store(out, at + 2, r.offset);
        out[at + 4] = r.size;
        out[at + 5] = r.flags;
    }
    for (size_t i = 0; i < m.records.size(); ++i) {
        const uint64_t at = off[kRecords] + kRecordSize * i;
        const V2Record& r = m.records[i];
        store(out, at, r.id);
        store(out, at + 8, r.instruction_offset);
        out[at + 12] = r.call_size;
        out[at + 13] = r.flags;
        store(out, at + 14, r.num_locations);
        store(out, at + 16, r.location_index);
        store(out, at + 18, r.num_live_outs);
        store(out, at + 20, r.live_out_index);
    }
    for (size_t i = 0; i < m.locations.size(); ++i) {
        const uint64_t at = off[kLocations] + kLocationSize * i;
        const V2Location& l = m.locations[i];
        out[at] = static_cast<uint8_t>(l.kind);
        out[at + 1] = l.flags;
        store(out, at + 2, l.dwarf_reg);
        store(out, at + 4, l.offset);
    }
    for (size_t i = 0; i < m.live_outs.size(); ++i) {
        const uint64_t at = off[kLiveOuts] + kLiveOutSize * i;
        store(out, at, m.live_outs[i].dwarf_reg);
        out[at + 3] = m.live_outs[i].size;
    }
    // The reader's checks (kinds, registers, constant indices, flags) are the writer's contract:
    // refuse what would not read back.
    auto back = parse_v2(out, "write_v2");
    if (!back) return Error{std::move(back).error().message};
    return out;
}

Expected<StackMapV2> v2_from_v3(const std::vector<StackMapBlob>& blobs, std::span<const V2FunctionInfo> functions) {
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
                return fail(b, format("function %u: stack size %" PRIu64 " does not fit in 32 bits", f, fe.stack_size));
            } else {
                fr.stack_size = static_cast<uint32_t>(fe.stack_size);
            }
            fr.flags = static_cast<uint16_t>(info.flags & (kV2HasFrame | kV2HasVariableSizeAlloca | kV2HasStackRealignment));
            fr.frame_base_reg = info.frame_base_reg;
            if (info.frame_registers.size() > UINT16_MAX ||
                (!info.frame_registers.empty() && m.frame_registers.size() > UINT16_MAX))
                return fail(b, format("function %u: frame register index exceeds the v2 limit of 65535", f));
            fr.frame_register_index = static_cast<uint16_t>(info.frame_registers.empty() ? 0 : m.frame_registers.size());
            fr.num_frame_registers = static_cast<uint16_t>(info.frame_registers.size());
            m.frame_registers.insert(m.frame_registers.end(), info.frame_registers.begin(), info.frame_registers.end());
            if (fe.record_count > UINT16_MAX || m.records.size() > UINT16_MAX)
                return fail(b, format("function %u: more than 65535 records, which v2's u16 record index cannot reach", f));
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
                    return fail(b, format("record %" PRIu64 ": more than 65535 locations or live-outs in total, "
                                          "which v2's u16 indices cannot reach",
                                          first + k));
                r.num_locations = rec.num_locations();
                r.location_index = static_cast<uint16_t>(rec.num_locations() == 0 ? 0 : m.locations.size());
                r.num_live_outs = rec.num_live_outs();
                r.live_out_index = static_cast<uint16_t>(rec.num_live_outs() == 0 ? 0 : m.live_outs.size());
                for (uint16_t l = 0; l < rec.num_locations(); ++l) {
                    const Location loc = rec.location(l);
                    int32_t offset = loc.offset;
                    if (loc.kind == LocationKind::ConstantIndex) offset += static_cast<int32_t>(constant_base);
                    m.locations.push_back(V2Location{loc.kind, 0, loc.dwarf_reg, offset});
                }
                for (uint16_t i = 0; i < rec.num_live_outs(); ++i)
                    m.live_outs.push_back(V2LiveOut{rec.live_out(i).dwarf_reg, rec.live_out(i).size});
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
