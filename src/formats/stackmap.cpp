// The LLVM stack map format version 3 parser: validates a blob (or a section of blobs) once, so
// that the accessors of include/gcwalk/stackmap.hpp can read without checks afterwards.
#include <gcwalk/detail/format.hpp>
#include <gcwalk/detail/prefault.hpp>
#include <gcwalk/frame_rule.hpp>
#include <gcwalk/stackmap.hpp>

#include <cinttypes>

namespace gcwalk {

const char* to_string(LocationKind kind) noexcept {
    switch (kind) {
    case LocationKind::Register: return "Register";
    case LocationKind::Direct: return "Direct";
    case LocationKind::Indirect: return "Indirect";
    case LocationKind::Constant: return "Constant";
    case LocationKind::ConstantIndex: return "ConstantIndex";
    }
    return "unknown";
}

const char* with_article(LocationKind kind) noexcept {
    switch (kind) {
    case LocationKind::Register: return "a Register";
    case LocationKind::Direct: return "a Direct";
    case LocationKind::Indirect: return "an Indirect";
    case LocationKind::Constant: return "a Constant";
    case LocationKind::ConstantIndex: return "a ConstantIndex";
    }
    return "an unknown";
}

namespace {

// Byte layout of format version 3: v3::*Layout in stackmap.hpp.
using v3::FunctionLayout;
using v3::HeaderLayout;
using v3::LiveOutHeaderLayout;
using v3::LiveOutLayout;
using v3::LocationLayout;
using v3::RecordLayout;
constexpr uint32_t kLocationSize = LocationLayout::bytes;
constexpr uint32_t kLiveOutSize = LiveOutLayout::bytes;
constexpr uint32_t kRecordHeaderSize = RecordLayout::locations;
// The sizes LLVM's StackMaps.cpp writes; a slip in the layout above breaks one of these.
static_assert(HeaderLayout::bytes == 16 && FunctionLayout::bytes == 24 && kRecordHeaderSize == 16);
static_assert(kLocationSize == 12 && kLiveOutSize == 4 && v3::kMinRecordBytes == 24);

// x86-64 DWARF register numbers: 0-15 general-purpose, 16 the return address column. A Register
// location may also name a vector, x87, MMX or mask register (17-125: LLVM puts a <4 x float>
// live in xmm0 as `Register R#17`); Direct and Indirect are addresses, so their base is 0-16.
constexpr uint16_t kMaxAddressReg = kDwarfReturnAddress;
constexpr uint16_t kMaxDwarfReg = 125;
// A location's size is 16 bits; LLVM fills all of them (a <1024 x i64> deopt operand is an
// Indirect location of 8192 bytes), so every non-zero size is accepted.

constexpr uint64_t align8(uint64_t v) {
    return (v + 7) & ~uint64_t{7};
}

template <class T> T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

bool all_zero(const uint8_t* p, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i)
        if (p[i] != 0) return false;
    return true;
}

// Validates one blob and collects its record offsets; every failure names a section offset.
class BlobValidator {
  public:
    BlobValidator(std::span<const uint8_t> bytes, std::string_view source, uint64_t base,
                  uint32_t index)
        : b_(bytes), source_(source), base_(base), index_(index) {}

    // On success: `size` is the blob's size in bytes, `records` and `first` are filled.
    Status run(uint64_t& size, std::vector<uint32_t>& records, std::vector<uint64_t>& first) {
        if (b_.size() < StackMapBlob::kHeaderSize) return eod(0, "the header");
        const uint8_t version = b_[HeaderLayout::version];
        if (version == 2)
            return fail("stack map version 2 at offset 0x%" PRIx64
                        " is LLVM 4's format, which gcwalk does not read (gcwalk reads the flat v2 "
                        "proposal "
                        "only through parse_v2, never from .llvm_stackmaps)",
                        base_);
        if (version != 3)
            return fail("unsupported stack map version %u at offset 0x%" PRIx64
                        " (gcwalk reads version 3)",
                        unsigned{version}, base_);
        if (!all_zero(b_.data() + HeaderLayout::reserved,
                      HeaderLayout::num_functions - HeaderLayout::reserved))
            return fail("non-zero reserved header bytes at offset 0x%" PRIx64,
                        base_ + HeaderLayout::reserved);
        const uint64_t nfun = load<uint32_t>(b_.data() + HeaderLayout::num_functions);
        const uint64_t ncon = load<uint32_t>(b_.data() + HeaderLayout::num_constants);
        const uint64_t nrec = load<uint32_t>(b_.data() + HeaderLayout::num_records);

        uint64_t off = HeaderLayout::bytes;
        if (Status s = count_fits(nfun, FunctionLayout::bytes, off, HeaderLayout::num_functions,
                                  "function", "");
            !s)
            return s;
        const uint64_t functions = off;
        off += nfun * FunctionLayout::bytes;
        if (Status s = count_fits(ncon, v3::kConstantBytes, off, HeaderLayout::num_constants,
                                  "constant", "");
            !s)
            return s;
        off += ncon * v3::kConstantBytes;
        if (Status s = count_fits(nrec, v3::kMinRecordBytes, off, HeaderLayout::num_records,
                                  "record", "at least ");
            !s)
            return s;

        // Records are grouped by function, in function order: the counts must add up.
        first.reserve(nfun);
        prefault(first.data(), nfun * sizeof(uint64_t));
        first.resize(nfun);
        uint64_t sum = 0;
        for (uint64_t f = 0; f < nfun; ++f) {
            first[f] = sum;
            const uint64_t at =
                functions + f * FunctionLayout::bytes + FunctionLayout::record_count;
            const uint64_t count = load<uint64_t>(b_.data() + at);
            if (count > nrec - sum)
                return fail("function record counts exceed the header's %" PRIu64
                            " records at function %" PRIu64 " (offset 0x%" PRIx64 ")",
                            nrec, f, base_ + at);
            sum += count;
        }
        if (sum != nrec)
            return fail("function record counts add up to %" PRIu64 " but the header says %" PRIu64
                        " records",
                        sum, nrec);

        records.reserve(nrec);
        prefault(records.data(), nrec * sizeof(uint32_t));
        records.resize(nrec);
        for (uint64_t r = 0; r < nrec; ++r) {
            if (off > UINT32_MAX) return fail("record %" PRIu64 " starts beyond 4 GiB", r);
            records[r] = static_cast<uint32_t>(off);
            if (Status s = record(r, ncon, off); !s) return s;
        }
        size = off;
        return {};
    }

  private:
    GCWALK_PRINTF(2, 3) Status fail(const char* fmt, ...) {
        std::va_list args;
        va_start(args, fmt);
        std::string what = vformat(fmt, args);
        va_end(args);
        return Error{blob_prefix(source_, index_, base_) + what};
    }
    Status eod(uint64_t off, const std::string& what) {
        return fail("unexpected end of data at offset 0x%" PRIx64 " while reading %s", base_ + off,
                    what.c_str());
    }
    uint64_t remaining(uint64_t off) const { return off >= b_.size() ? 0 : b_.size() - off; }

    // A count from the header: `count` entries of at least `each` bytes must fit after `off`.
    Status count_fits(uint64_t count, uint64_t each, uint64_t off, uint64_t field, const char* what,
                      const char* at_least) {
        const uint64_t need = count * each; // count < 2^32, each < 2^8: no overflow
        if (need > remaining(off))
            return fail("%s count %" PRIu64 " at offset 0x%" PRIx64 " needs %s%" PRIu64
                        " bytes but only %" PRIu64 " remain",
                        what, count, base_ + field, at_least, need, remaining(off));
        return {};
    }

    // Validates record r at `off` and advances `off` past its trailing padding.
    Status record(uint64_t r, uint64_t ncon, uint64_t& off) {
        const uint64_t start = off;
        if (remaining(start) < kRecordHeaderSize) return eod(start, format("record %" PRIu64, r));
        const uint8_t* p = b_.data() + start;
        const uint32_t nloc = load<uint16_t>(p + RecordLayout::num_locations);
        uint64_t o = start + kRecordHeaderSize;
        // The common case in one tight pass; any doubt goes to the loop below, which finds the
        // first bad location again and words the error.
        bool ok = remaining(o) >= uint64_t{nloc} * kLocationSize;
        for (const uint8_t *q = p + kRecordHeaderSize, *end = q + (ok ? nloc * kLocationSize : 0);
             q != end; q += kLocationSize)
            ok &= location_ok(q, ncon);
        if (ok) {
            o += uint64_t{nloc} * kLocationSize;
        } else {
            for (uint32_t l = 0; l < nloc; ++l, o += kLocationSize) {
                if (remaining(o) < kLocationSize)
                    return eod(o, format("location %u of record %" PRIu64, l, r));
                if (Status s = location(b_.data() + o, l, r, o, ncon); !s) return s;
            }
        }
        const uint64_t pad = align8(o) - o;
        if (remaining(o) < pad + LiveOutHeaderLayout::bytes)
            return eod(o, format("the live-out header of record %" PRIu64, r));
        if (!all_zero(b_.data() + o, pad + LiveOutHeaderLayout::num_live_outs))
            return fail("non-zero padding at offset 0x%" PRIx64
                        " after the locations of record %" PRIu64,
                        base_ + o, r);
        o += pad;
        const uint32_t nlive = load<uint16_t>(b_.data() + o + LiveOutHeaderLayout::num_live_outs);
        o += LiveOutHeaderLayout::bytes;
        for (uint32_t i = 0; i < nlive; ++i, o += kLiveOutSize) {
            if (remaining(o) < kLiveOutSize)
                return eod(o, format("live-out %u of record %" PRIu64, i, r));
            const uint8_t* q = b_.data() + o;
            const uint16_t reg = load<uint16_t>(q + LiveOutLayout::dwarf_reg);
            if (reg > kMaxDwarfReg)
                return fail("live-out %u of record %" PRIu64 " at offset 0x%" PRIx64
                            " names register %u, not an x86-64 DWARF register",
                            i, r, base_ + o, unsigned{reg});
            if (q[LiveOutLayout::reserved] != 0)
                return fail("non-zero reserved byte in live-out %u of record %" PRIu64
                            " at offset 0x%" PRIx64,
                            i, r, base_ + o);
            if (q[LiveOutLayout::size] == 0)
                return fail("live-out %u of record %" PRIu64 " at offset 0x%" PRIx64 " has size 0",
                            i, r, base_ + o);
        }
        const uint64_t tail = align8(o) - o;
        if (remaining(o) < tail) return eod(o, format("the padding after record %" PRIu64, r));
        if (!all_zero(b_.data() + o, tail))
            return fail("non-zero padding at offset 0x%" PRIx64 " after record %" PRIu64, base_ + o,
                        r);
        off = o + tail;
        return {};
    }

    // True when the location at q passes every check of location() below (without wording errors).
    static bool location_ok(const uint8_t* q, uint64_t ncon) {
        const uint16_t size = load<uint16_t>(q + LocationLayout::size);
        const uint16_t reg = load<uint16_t>(q + LocationLayout::dwarf_reg);
        if (q[LocationLayout::reserved0] != 0 || load<uint16_t>(q + LocationLayout::reserved1) != 0)
            return false;
        const bool sized = size != 0;
        switch (static_cast<LocationKind>(q[LocationLayout::kind])) {
        case LocationKind::Constant: return true;
        case LocationKind::ConstantIndex: {
            const int32_t value = load<int32_t>(q + LocationLayout::offset);
            return value >= 0 && static_cast<uint64_t>(value) < ncon;
        }
        case LocationKind::Register: return reg <= kMaxDwarfReg && sized;
        case LocationKind::Direct:
        case LocationKind::Indirect: return reg <= kMaxAddressReg && sized;
        }
        return false; // an invalid kind
    }

    Status location(const uint8_t* q, uint32_t l, uint64_t r, uint64_t o, uint64_t ncon) {
        const uint8_t kind = q[LocationLayout::kind];
        const uint16_t size = load<uint16_t>(q + LocationLayout::size);
        const uint16_t reg = load<uint16_t>(q + LocationLayout::dwarf_reg);
        const int32_t value = load<int32_t>(q + LocationLayout::offset);
        const uint64_t at = base_ + o;
        if (kind < 1 || kind > 5)
            return fail("location %u of record %" PRIu64 " at offset 0x%" PRIx64
                        " has invalid kind %u",
                        l, r, at, unsigned{kind});
        if (q[LocationLayout::reserved0] != 0 || load<uint16_t>(q + LocationLayout::reserved1) != 0)
            return fail("non-zero reserved bytes in location %u of record %" PRIu64
                        " at offset 0x%" PRIx64,
                        l, r, at);
        const auto k = static_cast<LocationKind>(kind);
        if (k == LocationKind::ConstantIndex) {
            if (value < 0 || static_cast<uint64_t>(value) >= ncon)
                return fail("location %u of record %" PRIu64 " at offset 0x%" PRIx64
                            ": constant index %d out of range (%" PRIu64 " constants)",
                            l, r, at, value, ncon);
            return {};
        }
        if (k == LocationKind::Constant) return {};
        const uint16_t max_reg = k == LocationKind::Register ? kMaxDwarfReg : kMaxAddressReg;
        if (reg > max_reg)
            return fail("location %u of record %" PRIu64 " at offset 0x%" PRIx64
                        ": register %u is out of range for %s location (at most %u)",
                        l, r, at, unsigned{reg}, with_article(k), unsigned{max_reg});
        if (size == 0)
            return fail("location %u of record %" PRIu64 " at offset 0x%" PRIx64
                        ": %s location of size 0",
                        l, r, at, with_article(k));
        return {};
    }

    std::span<const uint8_t> b_;
    std::string_view source_;
    uint64_t base_;
    uint32_t index_;
};

} // namespace

LiveOut RecordView::live_out(uint16_t i) const noexcept {
    const uint8_t* q =
        p_ + live_outs_header() + LiveOutHeaderLayout::bytes + uint32_t{kLiveOutSize} * i;
    LiveOut out;
    std::memcpy(&out.dwarf_reg, q + LiveOutLayout::dwarf_reg, sizeof out.dwarf_reg);
    out.size = q[LiveOutLayout::size];
    return out;
}

uint32_t RecordView::live_outs_header() const noexcept {
    return static_cast<uint32_t>(
        align8(kRecordHeaderSize + uint64_t{kLocationSize} * num_locations()));
}

uint32_t RecordView::size_bytes() const noexcept {
    return static_cast<uint32_t>(align8(live_outs_header() + LiveOutHeaderLayout::bytes +
                                        uint64_t{kLiveOutSize} * num_live_outs()));
}

Expected<StackMapBlob> StackMapBlob::parse(std::span<const uint8_t> bytes, std::string_view source,
                                           uint64_t base_offset, uint32_t blob_index) {
    StackMapBlob blob;
    uint64_t size = 0;
    BlobValidator v(bytes, source, base_offset, blob_index);
    if (Status s = v.run(size, blob.record_offsets_, blob.first_record_); !s)
        return Error{s.message()};
    blob.bytes_ = bytes.first(size);
    blob.base_offset_ = base_offset;
    blob.blob_index_ = blob_index;
    return blob;
}

Expected<std::vector<StackMapBlob>> parse_stackmap_section(std::span<const uint8_t> section,
                                                           std::string_view source) {
    std::vector<StackMapBlob> blobs;
    uint64_t off = 0;
    while (off < section.size()) {
        if (blobs.size() >= UINT32_MAX)
            return Error{format("%.*s: too many blobs", int(source.size()), source.data())};
        auto blob = StackMapBlob::parse(section.subspan(off), source, off,
                                        static_cast<uint32_t>(blobs.size()));
        if (!blob) return std::move(blob).error();
        off += blob->size_bytes(); // a multiple of 8, never 0: the next blob stays aligned
        blobs.push_back(std::move(*blob));
    }
    return blobs;
}

} // namespace gcwalk
