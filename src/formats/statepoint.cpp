// Decoding gc.statepoint records: checks the statepoint shape of an already validated v3 record
// and returns where its deopt block, (base, derived) pairs and gc allocas are.
#include <gcwalk/detail/format.hpp>
#include <gcwalk/statepoint.hpp>

namespace gcwalk {

namespace {

// The index of `record` within `blob` (records are stored in increasing offset order).
uint64_t record_index(const StackMapBlob& blob, const RecordView& record) {
    uint64_t lo = 0, hi = blob.num_records();
    while (lo < hi) {
        const uint64_t mid = lo + (hi - lo) / 2;
        if (blob.record(static_cast<uint32_t>(mid)).offset_in_blob() < record.offset_in_blob())
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

} // namespace

uint64_t constant_value(const StackMapBlob& blob, const Location& loc) noexcept {
    switch (loc.kind) {
    case LocationKind::Constant:
        // LLVM stores a constant here only when it fits in 32 signed bits: sign-extend it.
        return static_cast<uint64_t>(static_cast<int64_t>(loc.offset));
    case LocationKind::ConstantIndex:
        return blob.constant(static_cast<uint32_t>(loc.offset)); // index checked at parse time
    default: return 0;
    }
}

Expected<StatepointLayout> decode_statepoint(const StackMapBlob& blob, const RecordView& record,
                                             std::string_view source) {
    auto fail = [&](const std::string& what) {
        const uint64_t at = blob.offset_in_section() + record.offset_in_blob();
        return Error{
            blob_prefix(source, blob.index_in_section(), blob.offset_in_section()) +
            format("record %" PRIu64 " at offset 0x%" PRIx64 ": ", record_index(blob, record), at) +
            what};
    };
    const uint16_t n = record.num_locations();
    if (n < 3)
        return fail(
            format("a statepoint record needs at least 3 locations, found %u", unsigned{n}));
    static const char* const kLeading[3] = {"the calling convention", "the flags",
                                            "the deopt count"};
    StatepointLayout out{};
    uint64_t leading[3];
    for (uint16_t i = 0; i < 3; ++i) {
        const Location loc = record.location(i);
        if (loc.kind != LocationKind::Constant)
            return fail(format("location %u (%s) is %s, expected Constant", unsigned{i},
                               kLeading[i], to_string(loc.kind)));
        leading[i] = constant_value(blob, loc);
    }
    out.calling_convention = leading[0];
    out.flags = leading[1];
    if (leading[2] > uint64_t{n} - 3)
        return fail(format("deopt count %" PRId64
                           " exceeds the %u locations after the leading constants",
                           static_cast<int64_t>(leading[2]), unsigned{n} - 3));
    out.first_deopt = 3;
    out.num_deopt = static_cast<uint16_t>(leading[2]);
    out.first_pair = static_cast<uint16_t>(3 + out.num_deopt);

    // gc allocas come last, as Direct locations with no partner; everything between is pairs.
    uint16_t end = n;
    while (end > out.first_pair &&
           record.location(static_cast<uint16_t>(end - 1)).kind == LocationKind::Direct)
        --end;
    const uint16_t paired = static_cast<uint16_t>(end - out.first_pair);
    if (paired % 2 != 0)
        return fail(
            format("%u gc locations between location %u and the trailing Direct ones do not form "
                   "(base, derived) pairs",
                   unsigned{paired}, unsigned{out.first_pair}));
    out.num_pairs = static_cast<uint16_t>(paired / 2);
    out.first_gc_alloca = end;
    out.num_gc_allocas = static_cast<uint16_t>(n - end);
    return out;
}

} // namespace gcwalk
