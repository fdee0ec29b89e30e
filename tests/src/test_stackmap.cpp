// Tests of the v3 parser (src/stackmap.cpp) against llvm-readobj on sections emitted by llc-14,
// and of its errors on small edits of those sections.
#include <gcwalk/frame_rule.hpp>
#include <gcwalk/stackmap.hpp>

#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace gcwalk;
using fixtures::RefStackMap;

namespace {

template <class T> void poke(std::vector<uint8_t>& b, uint64_t off, T v) {
    std::memcpy(b.data() + off, &v, sizeof v);
}

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

void check_against(const StackMapBlob& blob, const RefStackMap& ref) {
    REQUIRE(ref.version == 3);
    CHECK(blob.version() == 3);
    REQUIRE(blob.num_functions() == ref.functions.size());
    REQUIRE(blob.num_constants() == ref.constants.size());
    REQUIRE(blob.num_records() == ref.records.size());
    uint64_t first = 0;
    for (uint32_t f = 0; f < blob.num_functions(); ++f) {
        const FunctionEntry fe = blob.function(f);
        CHECK(fe.address == ref.functions[f].address);
        CHECK(fe.stack_size == ref.functions[f].stack_size);
        CHECK(fe.record_count == ref.functions[f].record_count);
        CHECK(blob.first_record_of(f) == first);
        first += fe.record_count;
    }
    for (uint32_t c = 0; c < blob.num_constants(); ++c) CHECK(blob.constant(c) == ref.constants[c]);
    for (uint32_t r = 0; r < blob.num_records(); ++r) {
        INFO("record " << r);
        const RecordView rec = blob.record(r);
        const auto& rr = ref.records[r];
        CHECK(rec.offset_in_blob() == fixtures::record_offset(ref, r));
        CHECK(rec.id() == rr.id);
        CHECK(rec.instruction_offset() == rr.instruction_offset);
        REQUIRE(rec.num_locations() == rr.locations.size());
        for (uint16_t l = 0; l < rec.num_locations(); ++l) {
            INFO("location " << l);
            const Location loc = rec.location(l);
            const auto& rl = rr.locations[l];
            CHECK(to_string(loc.kind) == rl.kind);
            CHECK(loc.size == rl.size);
            switch (loc.kind) {
            case LocationKind::Register: CHECK(loc.dwarf_reg == rl.reg); break;
            case LocationKind::Direct:
            case LocationKind::Indirect:
                CHECK(loc.dwarf_reg == rl.reg);
                CHECK(loc.offset == rl.offset);
                break;
            case LocationKind::Constant: // readobj prints the 32 bits unsigned
                CHECK(static_cast<uint32_t>(loc.offset) == static_cast<uint64_t>(rl.offset));
                break;
            case LocationKind::ConstantIndex:
                CHECK(loc.offset == rl.offset);
                CHECK(blob.constant(static_cast<uint32_t>(loc.offset)) == rl.value);
                break;
            }
        }
        REQUIRE(rec.num_live_outs() == rr.live_outs.size());
        for (uint16_t i = 0; i < rec.num_live_outs(); ++i) {
            CHECK(rec.live_out(i).dwarf_reg == rr.live_outs[i].reg);
            CHECK(rec.live_out(i).size == rr.live_outs[i].size);
        }
        const uint32_t next =
            r + 1 < blob.num_records() ? blob.record(r + 1).offset_in_blob() : blob.size_bytes();
        CHECK(rec.offset_in_blob() + rec.size_bytes() == next);
    }
}

std::string parse_error(const std::vector<uint8_t>& b, std::string_view source = "t.o") {
    auto r = parse_stackmap_section(b, source);
    REQUIRE_FALSE(r.has_value());
    return r.error().message;
}

} // namespace

TEST_CASE("v3 blobs match llvm-readobj", "[stackmap]") {
    for (const char* name : {"kinds", "rs4gc"}) {
        INFO(name);
        const auto bytes = fixtures::bytes(std::string(name) + ".bin");
        const RefStackMap ref = fixtures::readobj(std::string(name) + ".txt");
        REQUIRE(!ref.records.empty());
        auto blobs = parse_stackmap_section(bytes, name);
        REQUIRE(blobs.has_value());
        REQUIRE(blobs->size() == 1);
        CHECK((*blobs)[0].size_bytes() == bytes.size());
        check_against((*blobs)[0], ref);
    }
}

TEST_CASE("the fixture covers every location kind, live-outs and a dynamic frame", "[stackmap]") {
    const RefStackMap ref = fixtures::readobj("kinds.txt");
    bool kinds[6] = {}, live_outs = false, dynamic = false, vector_reg = false;
    for (const auto& r : ref.records) {
        live_outs |= !r.live_outs.empty();
        for (const auto& l : r.locations) {
            for (int k = 1; k <= 5; ++k)
                kinds[k] |= l.kind == to_string(static_cast<LocationKind>(k));
            vector_reg |= l.kind == "Register" && l.reg > gcwalk::kDwarfReturnAddress;
        }
    }
    for (const auto& f : ref.functions) dynamic |= f.stack_size == kDynamicStackSize;
    for (int k = 1; k <= 5; ++k) CHECK(kinds[k]);
    CHECK(live_outs);
    CHECK(dynamic);
    CHECK(vector_reg); // <4 x float> in xmm0 is `Register R#17`: Register accepts non-GPR numbers
}

TEST_CASE("a linked section holds blobs back to back", "[stackmap]") {
    const auto both = fixtures::bytes("both.bin");
    const auto kinds = fixtures::bytes("kinds.bin");
    const auto rs4gc = fixtures::bytes("rs4gc.bin");
    REQUIRE(both.size() == kinds.size() + rs4gc.size());
    auto blobs = parse_stackmap_section(both, "both.o");
    REQUIRE(blobs.has_value());
    REQUIRE(blobs->size() == 2);
    CHECK((*blobs)[0].offset_in_section() == 0);
    CHECK((*blobs)[1].offset_in_section() == kinds.size());
    CHECK((*blobs)[1].index_in_section() == 1);
    check_against((*blobs)[0], fixtures::readobj("kinds.txt"));
    check_against((*blobs)[1], fixtures::readobj("rs4gc.txt"));
    CHECK(parse_stackmap_section({}, "empty").value().empty());
}

TEST_CASE("to_string names every kind", "[stackmap]") {
    CHECK(std::string(to_string(LocationKind::Register)) == "Register");
    CHECK(std::string(to_string(LocationKind::ConstantIndex)) == "ConstantIndex");
    CHECK(std::string(to_string(static_cast<LocationKind>(9))) == "unknown");
}

TEST_CASE("every truncation is an error", "[stackmap][errors]") {
    const auto both = fixtures::bytes("both.bin");
    const size_t first = fixtures::bytes("kinds.bin").size();
    for (size_t n = 1; n < both.size(); ++n) {
        INFO("length " << n);
        std::vector<uint8_t> cut(both.begin(), both.begin() + static_cast<long>(n));
        auto r = parse_stackmap_section(cut, "t.o");
        if (n == first) {
            CHECK(r.has_value()); // exactly the first blob
        } else {
            REQUIRE_FALSE(r.has_value());
            CHECK(r.error().message.find(n < first ? "t.o: blob 0 at offset 0x0: "
                                                   : "t.o: blob 1 at offset ") == 0);
        }
    }
}

TEST_CASE("truncation inside a location names it", "[stackmap][errors]") {
    const auto b = fixtures::bytes("kinds.bin");
    const RefStackMap ref = fixtures::readobj("kinds.txt");
    const uint64_t at = fixtures::location_offset(ref, 2, 3);
    std::vector<uint8_t> cut(b.begin(), b.begin() + static_cast<long>(at + 5));
    CHECK(parse_error(cut, "a.out") ==
          "a.out: blob 0 at offset 0x0: unexpected end of data at offset " + hex(at) +
              " while reading location 3 of record 2");
    std::vector<uint8_t> header(b.begin(), b.begin() + 7);
    CHECK(
        parse_error(header) ==
        "t.o: blob 0 at offset 0x0: unexpected end of data at offset 0x0 while reading the header");
}

TEST_CASE("versions other than 3 are refused", "[stackmap][errors]") {
    auto b = fixtures::bytes("kinds.bin");
    b[0] = 2;
    CHECK(parse_error(b) ==
          "t.o: blob 0 at offset 0x0: stack map version 2 at offset 0x0 is LLVM 4's format, which "
          "gcwalk does not read (gcwalk reads the flat v2 proposal only through parse_v2, never "
          "from .llvm_stackmaps)");
    b[0] = 1;
    CHECK(parse_error(b) ==
          "t.o: blob 0 at offset 0x0: unsupported stack map version 1 at offset 0x0 (gcwalk reads "
          "version 3)");
    b[0] = 3;
    b[2] = 1;
    CHECK(parse_error(b) ==
          "t.o: blob 0 at offset 0x0: non-zero reserved header bytes at offset 0x1");
}

TEST_CASE("header counts are checked against the bytes", "[stackmap][errors]") {
    const auto orig = fixtures::bytes("kinds.bin");
    const RefStackMap ref = fixtures::readobj("kinds.txt");
    auto b = orig;
    poke<uint32_t>(b, 4, 1000);
    CHECK(
        parse_error(b) ==
        "t.o: blob 0 at offset 0x0: function count 1000 at offset 0x4 needs 24000 bytes but only " +
            std::to_string(orig.size() - 16) + " remain");
    b = orig;
    poke<uint32_t>(b, 8, 0xffffffffu);
    CHECK(
        parse_error(b).find(
            "t.o: blob 0 at offset 0x0: constant count 4294967295 at offset 0x8 needs 34359738360 "
            "bytes but only ") == 0);
    b = orig;
    poke<uint32_t>(b, 12, 1000);
    CHECK(parse_error(b).find(
              "record count 1000 at offset 0xc needs at least 24000 bytes but only ") !=
          std::string::npos);
    b = orig;
    poke<uint64_t>(b, 16 + 16, ref.functions[0].record_count - 1);
    CHECK(parse_error(b) == "t.o: blob 0 at offset 0x0: function record counts add up to " +
                                std::to_string(ref.records.size() - 1) + " but the header says " +
                                std::to_string(ref.records.size()) + " records");
    b = orig;
    poke<uint64_t>(b, 16 + 16, uint64_t{1} << 63);
    CHECK(parse_error(b) ==
          "t.o: blob 0 at offset 0x0: function record counts exceed the header's " +
              std::to_string(ref.records.size()) + " records at function 0 (offset 0x20)");
}

TEST_CASE("bad locations are refused with their position", "[stackmap][errors]") {
    const auto orig = fixtures::bytes("kinds.bin");
    const RefStackMap ref = fixtures::readobj("kinds.txt");
    // Record 0 (stackmap ID 1) has locations of every kind; find each one in the reference.
    auto find = [&](const char* kind) {
        for (size_t l = 0; l < ref.records[0].locations.size(); ++l)
            if (ref.records[0].locations[l].kind == kind) return l;
        FAIL("no " << kind << " location in record 0");
        return size_t{0};
    };
    const std::string prefix = "t.o: blob 0 at offset 0x0: ";
    auto b = orig;
    uint64_t at = fixtures::location_offset(ref, 0, 0);
    b[at] = 9;
    CHECK(parse_error(b) ==
          prefix + "location 0 of record 0 at offset " + hex(at) + " has invalid kind 9");
    b[at] = 0;
    CHECK(parse_error(b) ==
          prefix + "location 0 of record 0 at offset " + hex(at) + " has invalid kind 0");

    b = orig;
    const size_t ci = find("ConstantIndex");
    at = fixtures::location_offset(ref, 0, ci);
    poke<int32_t>(b, at + 8, static_cast<int32_t>(ref.constants.size()));
    CHECK(parse_error(b) == prefix + "location " + std::to_string(ci) + " of record 0 at offset " +
                                hex(at) + ": constant index " +
                                std::to_string(ref.constants.size()) + " out of range (" +
                                std::to_string(ref.constants.size()) + " constants)");
    poke<int32_t>(b, at + 8, -1);
    CHECK(parse_error(b).find(": constant index -1 out of range") != std::string::npos);

    b = orig;
    const size_t ind = find("Indirect");
    at = fixtures::location_offset(ref, 0, ind);
    poke<uint16_t>(b, at + 4, 17);
    CHECK(parse_error(b) ==
          prefix + "location " + std::to_string(ind) + " of record 0 at offset " + hex(at) +
              ": register 17 is out of range for an Indirect location (at most 16)");
    b = orig;
    poke<uint16_t>(b, at + 2, 0);
    CHECK(parse_error(b) == prefix + "location " + std::to_string(ind) + " of record 0 at offset " +
                                hex(at) + ": an Indirect location of size 0");
    // Every other size the 16-bit field holds is valid (LLVM emits 8192-byte deopt vectors).
    for (uint16_t size : {uint16_t{1025}, uint16_t{8192}, uint16_t{65535}}) {
        poke<uint16_t>(b, at + 2, size);
        auto parsed = parse_stackmap_section(b, "test");
        REQUIRE(parsed);
        CHECK((*parsed)[0].record(0).location(static_cast<uint16_t>(ind)).size == size);
    }
    b = orig;
    b[at + 1] = 1;
    CHECK(parse_error(b) == prefix + "non-zero reserved bytes in location " + std::to_string(ind) +
                                " of record 0 at offset " + hex(at));

    b = orig;
    const size_t reg = find("Register");
    at = fixtures::location_offset(ref, 0, reg);
    poke<uint16_t>(b, at + 4, 126);
    CHECK(parse_error(b) ==
          prefix + "location " + std::to_string(reg) + " of record 0 at offset " + hex(at) +
              ": register 126 is out of range for a Register location (at most 125)");
}

TEST_CASE("padding and live-outs are checked", "[stackmap][errors]") {
    const auto orig = fixtures::bytes("kinds.bin");
    const RefStackMap ref = fixtures::readobj("kinds.txt");
    const std::string prefix = "t.o: blob 0 at offset 0x0: ";
    // The u16 padding before NumLiveOuts of record 0.
    const uint64_t locs_end = fixtures::location_offset(ref, 0, ref.records[0].locations.size());
    const uint64_t pad = (locs_end + 7) & ~uint64_t{7};
    auto b = orig;
    b[pad] = 1;
    CHECK(parse_error(b) == prefix + "non-zero padding at offset " + hex(locs_end) +
                                " after the locations of record 0");
    // A record with live-outs: its first live-out.
    size_t r = 0;
    while (ref.records[r].live_outs.empty()) ++r;
    const uint64_t lo =
        ((fixtures::location_offset(ref, r, ref.records[r].locations.size()) + 7) & ~uint64_t{7}) +
        4;
    b = orig;
    b[lo + 3] = 0;
    CHECK(parse_error(b) == prefix + "live-out 0 of record " + std::to_string(r) + " at offset " +
                                hex(lo) + " has size 0");
    b = orig;
    b[lo + 2] = 7;
    CHECK(parse_error(b) == prefix + "non-zero reserved byte in live-out 0 of record " +
                                std::to_string(r) + " at offset " + hex(lo));
    b = orig;
    poke<uint16_t>(b, lo, 200);
    CHECK(parse_error(b) == prefix + "live-out 0 of record " + std::to_string(r) + " at offset " +
                                hex(lo) + " names register 200, not an x86-64 DWARF register");
}

TEST_CASE("an error in the second blob names blob 1 and section offsets", "[stackmap][errors]") {
    auto both = fixtures::bytes("both.bin");
    const uint64_t second = fixtures::bytes("kinds.bin").size();
    const RefStackMap ref = fixtures::readobj("rs4gc.txt");
    const uint64_t at = second + fixtures::location_offset(ref, 1, 0);
    both[at] = 6;
    CHECK(parse_error(both, "a.out") == "a.out: blob 1 at offset " + hex(second) +
                                            ": location 0 of record 1 at offset " + hex(at) +
                                            " has invalid kind 6");
    both[at] = 4;
    both[second] = 1;
    CHECK(parse_error(both, "a.out") == "a.out: blob 1 at offset " + hex(second) +
                                            ": unsupported stack map version 1 at offset " +
                                            hex(second) + " (gcwalk reads version 3)");
    // Cut inside location 3 of record 2 of the second blob (the example in docs/FORMATS.md).
    const auto orig = fixtures::bytes("both.bin");
    const uint64_t loc = second + fixtures::location_offset(ref, 2, 3);
    std::vector<uint8_t> cut(orig.begin(), orig.begin() + static_cast<long>(loc + 4));
    CHECK(parse_error(cut, "a.out") == "a.out: blob 1 at offset " + hex(second) +
                                           ": unexpected end of data at offset " + hex(loc) +
                                           " while reading location 3 of record 2");
    // Without a source name the message starts at the blob.
    CHECK(parse_error(both, "").find("blob 1 at offset ") == 0);
}

TEST_CASE("StackMapBlob::parse stops at the end of its blob", "[stackmap]") {
    const auto both = fixtures::bytes("both.bin");
    const size_t first = fixtures::bytes("kinds.bin").size();
    auto blob = StackMapBlob::parse(both, "both.o");
    REQUIRE(blob.has_value());
    CHECK(blob->size_bytes() == first);
    CHECK(blob->bytes().data() == both.data());
}
