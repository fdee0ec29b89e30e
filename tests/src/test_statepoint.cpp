// Tests of statepoint decoding (src/statepoint.cpp) on records emitted by llc-14 for RS4GC output
// and for a hand-written gc.statepoint, checked against llvm-readobj.
#include <gcwalk/statepoint.hpp>

#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace gcwalk;
using fixtures::RefStackMap;

namespace {

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

// The value readobj shows for a constant location (it prints Constant as unsigned 32 bits).
uint64_t ref_value(const fixtures::RefLocation& l) {
    if (l.kind == "ConstantIndex") return l.value;
    return static_cast<uint64_t>(
        static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(l.offset))));
}

StackMapBlob only_blob(const std::vector<uint8_t>& bytes) {
    auto blobs = parse_stackmap_section(bytes, "t.o");
    REQUIRE(blobs.has_value());
    REQUIRE(blobs->size() == 1);
    return (*blobs)[0];
}

void check_layout(const StackMapBlob& blob, uint32_t r, const fixtures::RefRecord& ref,
                  const StatepointLayout& sp) {
    INFO("record " << r);
    const RecordView rec = blob.record(r);
    CHECK(sp.calling_convention == ref_value(ref.locations[0]));
    CHECK(sp.flags == ref_value(ref.locations[1]));
    CHECK(sp.first_deopt == 3);
    CHECK(sp.num_deopt == ref_value(ref.locations[2]));
    CHECK(sp.first_pair == 3 + sp.num_deopt);
    CHECK(sp.first_gc_alloca == sp.first_pair + 2 * sp.num_pairs);
    CHECK(sp.first_gc_alloca + sp.num_gc_allocas == ref.locations.size());
    for (uint16_t i = sp.first_gc_alloca; i < rec.num_locations(); ++i)
        CHECK(ref.locations[i].kind == "Direct");
    if (sp.num_pairs > 0) CHECK(ref.locations[sp.first_gc_alloca - 1].kind != "Direct");
    for (uint16_t i = sp.first_deopt; i < sp.first_pair; ++i) {
        const Location loc = rec.location(i);
        if (loc.kind == LocationKind::Constant || loc.kind == LocationKind::ConstantIndex)
            CHECK(constant_value(blob, loc) == ref_value(ref.locations[i]));
    }
}

} // namespace

TEST_CASE("RS4GC records decode as statepoints", "[statepoint]") {
    const auto bytes = fixtures::bytes("rs4gc.bin");
    const RefStackMap ref = fixtures::readobj("rs4gc.txt");
    const StackMapBlob blob = only_blob(bytes);
    bool saw_index = false, saw_pairs = false;
    for (uint32_t r = 0; r < blob.num_records(); ++r) {
        REQUIRE(ref.records[r].id == kDefaultStatepointId);
        auto sp = decode_statepoint(blob, blob.record(r), "t.o");
        REQUIRE(sp.has_value());
        check_layout(blob, r, ref.records[r], *sp);
        CHECK(sp->num_gc_allocas == 0); // RS4GC never passes allocas
        saw_pairs |= sp->num_pairs > 0;
        for (uint16_t i = sp->first_deopt; i < sp->first_pair; ++i)
            saw_index |= blob.record(r).location(i).kind == LocationKind::ConstantIndex;
    }
    CHECK(saw_index); // the deopt bundle's 4294967296
    CHECK(saw_pairs);
}

TEST_CASE("a hand-written statepoint has its deopt values, pairs and gc alloca", "[statepoint]") {
    const auto bytes = fixtures::bytes("kinds.bin");
    const RefStackMap ref = fixtures::readobj("kinds.txt");
    const StackMapBlob blob = only_blob(bytes);
    uint32_t r = 0;
    while (r < ref.records.size() && ref.records[r].id != 77)
        ++r; // the ID written in stackmap_kinds.ll
    REQUIRE(r < ref.records.size());
    auto sp = decode_statepoint(blob, blob.record(r), "t.o");
    REQUIRE(sp.has_value());
    check_layout(blob, r, ref.records[r], *sp);
    CHECK(sp->num_deopt == 2);      // "deopt"(i64 %x, i32 9)
    CHECK(sp->num_gc_allocas == 1); // "gc-live"(..., %box)
    CHECK(sp->num_pairs >= 2);      // %a and %d = %a + 24
    const Location last_deopt = blob.record(r).location(static_cast<uint16_t>(sp->first_pair - 1));
    CHECK(constant_value(blob, last_deopt) == 9);
}

TEST_CASE("constant_value sign-extends small constants and reads the pool", "[statepoint]") {
    const auto bytes = fixtures::bytes("kinds.bin");
    const RefStackMap ref = fixtures::readobj("kinds.txt");
    const StackMapBlob blob = only_blob(bytes);
    int checked = 0;
    for (uint32_t r = 0; r < blob.num_records(); ++r)
        for (uint16_t l = 0; l < blob.record(r).num_locations(); ++l) {
            const Location loc = blob.record(r).location(l);
            if (loc.kind == LocationKind::Constant || loc.kind == LocationKind::ConstantIndex) {
                CHECK(constant_value(blob, loc) == ref_value(ref.records[r].locations[l]));
                ++checked;
            } else {
                CHECK(constant_value(blob, loc) == 0);
            }
        }
    CHECK(checked > 4);
    CHECK(constant_value(blob, Location{LocationKind::Constant, 8, 0, -1}) ==
          UINT64_MAX); // the fixture's i64 -1
}

TEST_CASE("records without the statepoint shape are refused with their position",
          "[statepoint][errors]") {
    const auto orig = fixtures::bytes("kinds.bin");
    const RefStackMap ref = fixtures::readobj("kinds.txt");
    const StackMapBlob blob = only_blob(orig);
    const std::string prefix = "t.o: blob 0 at offset 0x0: ";
    auto error = [&](const StackMapBlob& b, uint32_t r) {
        auto sp = decode_statepoint(b, b.record(r), "t.o");
        REQUIRE_FALSE(sp.has_value());
        return sp.error().message;
    };
    // Record 0 is a plain stackmap whose first location is a register.
    REQUIRE(ref.records[0].locations[0].kind == "Register");
    CHECK(error(blob, 0) ==
          prefix + "record 0 at offset " + hex(fixtures::record_offset(ref, 0)) +
              ": location 0 (the calling convention) is Register, expected Constant");
    for (uint32_t r = 0; r < ref.records.size(); ++r) {
        if (ref.records[r].locations.size() >= 3) continue;
        CHECK(error(blob, r) == prefix + "record " + std::to_string(r) + " at offset " +
                                    hex(fixtures::record_offset(ref, r)) +
                                    ": a statepoint record needs at least 3 locations, found " +
                                    std::to_string(ref.records[r].locations.size()));
    }

    uint32_t r = 0;
    while (ref.records[r].id != 77) ++r;
    const size_t n = ref.records[r].locations.size();
    auto b = orig;
    const int32_t too_many = static_cast<int32_t>(n - 2);
    std::memcpy(b.data() + fixtures::location_offset(ref, r, 2) + 8, &too_many, 4);
    CHECK(error(only_blob(b), r) ==
          prefix + "record " + std::to_string(r) + " at offset " +
              hex(fixtures::record_offset(ref, r)) + ": deopt count " + std::to_string(too_many) +
              " exceeds the " + std::to_string(n - 3) + " locations after the leading constants");

    // Turning the last pair's derived slot into a Direct leaves an odd number of paired locations.
    b = orig;
    auto sp = decode_statepoint(blob, blob.record(r), "t.o");
    REQUIRE(sp.has_value());
    const uint16_t last_derived = static_cast<uint16_t>(sp->first_gc_alloca - 1);
    b[fixtures::location_offset(ref, r, last_derived)] = static_cast<uint8_t>(LocationKind::Direct);
    CHECK(error(only_blob(b), r) ==
          prefix + "record " + std::to_string(r) + " at offset " +
              hex(fixtures::record_offset(ref, r)) + ": " + std::to_string(2 * sp->num_pairs - 1) +
              " gc locations between location " + std::to_string(sp->first_pair) +
              " and the trailing Direct ones do not form (base, derived) pairs");
}

TEST_CASE("decoding every record of a linked section never fails badly", "[statepoint]") {
    const auto both = fixtures::bytes("both.bin");
    auto blobs = parse_stackmap_section(both, "both.o");
    REQUIRE(blobs.has_value());
    REQUIRE(blobs->size() == 2);
    int statepoints = 0;
    for (const auto& blob : *blobs)
        for (uint32_t r = 0; r < blob.num_records(); ++r) {
            auto sp = decode_statepoint(blob, blob.record(r), "both.o");
            if (sp) {
                ++statepoints;
            } else {
                CHECK(sp.error().message.find("both.o: blob " +
                                              std::to_string(blob.index_in_section())) == 0);
            }
        }
    CHECK(statepoints >= 4); // 3 from RS4GC + the hand-written one
}
