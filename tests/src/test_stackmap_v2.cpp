// Tests of the flat v2 format (src/stackmap_v2.cpp): conversion of llc-14's v3 output, write ->
// parse round trips, and the reader's errors on small edits of a written blob.
#include <gcwalk/frame_rule.hpp>
#include <gcwalk/stackmap_v2.hpp>

#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace gcwalk;

namespace {

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}
template <class T> T peek(const std::vector<uint8_t>& b, uint64_t off) {
    T v;
    std::memcpy(&v, b.data() + off, sizeof v);
    return v;
}
template <class T> void poke(std::vector<uint8_t>& b, uint64_t off, T v) {
    std::memcpy(b.data() + off, &v, sizeof v);
}

std::vector<StackMapBlob> both_blobs(const std::vector<uint8_t>& bytes) {
    auto blobs = parse_stackmap_section(bytes, "both.o");
    REQUIRE(blobs.has_value());
    REQUIRE(blobs->size() == 2);
    return *blobs;
}

StackMapV2 converted(const std::vector<StackMapBlob>& blobs,
                     std::span<const V2FunctionInfo> infos = {}) {
    auto v2 = v2_from_v3(blobs, infos);
    REQUIRE(v2.has_value());
    return *v2;
}

std::vector<uint8_t> written(const StackMapV2& m) {
    auto bytes = write_v2(m);
    REQUIRE(bytes.has_value());
    return *bytes;
}

std::string parse_error(const std::vector<uint8_t>& b) {
    auto r = parse_v2(b, "t.v2");
    REQUIRE_FALSE(r.has_value());
    return r.error().message;
}

// Table offsets from a written blob's header: constants, frames, frame regs, records, locations,
// live-outs.
uint64_t table(const std::vector<uint8_t>& b, int t) {
    return peek<uint32_t>(b, 4 + 4 * t);
}

} // namespace

TEST_CASE("v2_from_v3 keeps every function, record and location of llc's output", "[stackmap_v2]") {
    const auto both = fixtures::bytes("both.bin");
    const auto blobs = both_blobs(both);
    const StackMapV2 m = converted(blobs);
    size_t f = 0, r = 0;
    uint64_t constant_base = 0;
    for (const auto& blob : blobs) {
        for (uint32_t c = 0; c < blob.num_constants(); ++c)
            CHECK(m.constants.at(constant_base + c) == blob.constant(c));
        for (uint32_t fi = 0; fi < blob.num_functions(); ++fi, ++f) {
            const FunctionEntry fe = blob.function(fi);
            const V2FrameRecord& fr = m.frames.at(f);
            CHECK(fr.function_address == fe.address);
            CHECK(fr.num_records == fe.record_count);
            if (fe.stack_size == kDynamicStackSize)
                CHECK(fr.stack_size == kV2DynamicStackSize);
            else
                CHECK(fr.stack_size == fe.stack_size);
            CHECK(fr.frame_base_reg == gcwalk::kDwarfRsp);
            for (uint16_t k = 0; k < fr.num_records; ++k, ++r) {
                const RecordView rec =
                    blob.record(static_cast<uint32_t>(blob.first_record_of(fi) + k));
                const V2Record& vr = m.records.at(fr.record_index + k);
                CHECK(vr.id == rec.id());
                CHECK(vr.instruction_offset == rec.instruction_offset());
                REQUIRE(vr.num_locations == rec.num_locations());
                for (uint16_t l = 0; l < vr.num_locations; ++l) {
                    const Location a = rec.location(l);
                    const V2Location& b = m.locations.at(vr.location_index + l);
                    CHECK(b.kind == a.kind);
                    CHECK(b.dwarf_reg == a.dwarf_reg);
                    if (a.kind == LocationKind::ConstantIndex) // rebased into the merged pool
                        CHECK(m.constants.at(static_cast<size_t>(b.offset)) ==
                              blob.constant(static_cast<uint32_t>(a.offset)));
                    else
                        CHECK(b.offset == a.offset);
                }
                REQUIRE(vr.num_live_outs == rec.num_live_outs());
                CHECK((vr.flags & kV2RecordHasLiveOutInfo) ==
                      (rec.num_live_outs() ? kV2RecordHasLiveOutInfo : 0));
                if (rec.num_live_outs()) CHECK(fr.flags & kV2HasLiveOutInfo);
                for (uint16_t i = 0; i < vr.num_live_outs; ++i) {
                    CHECK(m.live_outs.at(vr.live_out_index + i).dwarf_reg ==
                          rec.live_out(i).dwarf_reg);
                    CHECK(m.live_outs.at(vr.live_out_index + i).size == rec.live_out(i).size);
                }
            }
        }
        constant_base += blob.num_constants();
    }
    CHECK(f == m.frames.size());
    CHECK(r == m.records.size());
    CHECK(constant_base == m.constants.size());
}

TEST_CASE("write then parse gives the same model", "[stackmap_v2]") {
    const auto both = fixtures::bytes("both.bin");
    const auto blobs = both_blobs(both);
    // Without extra information, and with function sizes, frame registers and call sizes.
    std::vector<V2FunctionInfo> infos(blobs[0].num_functions() + blobs[1].num_functions());
    for (size_t i = 0; i < infos.size(); ++i) {
        infos[i].function_size = static_cast<uint32_t>(100 + i);
        infos[i].flags = i % 2 ? kV2HasFrame : 0;
        infos[i].frame_base_reg = i % 2 ? gcwalk::kDwarfRbp : gcwalk::kDwarfRsp;
        for (size_t k = 0; k < i % 3; ++k)
            infos[i].frame_registers.push_back(
                {static_cast<uint16_t>(k == 0 ? gcwalk::kDwarfRbx : gcwalk::kDwarfR12),
                 static_cast<int16_t>(-8 * (k + 1)), 8, kV2IsSpilled});
        infos[i].call_sizes = {5, 2};
    }
    for (bool with_info : {false, true}) {
        INFO("with info " << with_info);
        const StackMapV2 m = with_info ? converted(blobs, infos) : converted(blobs);
        const auto bytes = written(m);
        auto back = parse_v2(bytes, "t.v2");
        REQUIRE(back.has_value());
        CHECK(*back == m);
        CHECK(written(*back) == bytes);
        if (with_info) {
            CHECK(back->frames[1].function_size == 101);
            CHECK(back->frames[1].frame_base_reg == gcwalk::kDwarfRbp);
            CHECK((back->frames[1].flags & kV2HasFrame) != 0);
            CHECK(back->frames[2].num_frame_registers == 2);
            CHECK(back->frame_registers[back->frames[2].frame_register_index + 1].dwarf_reg == 12);
            CHECK(back->records[0].call_size == 5);
        }
    }
    // Each source blob alone round-trips too.
    for (const auto& blob : blobs) {
        const StackMapV2 m = converted({blob});
        auto back = parse_v2(written(m), "t.v2");
        REQUIRE(back.has_value());
        CHECK(*back == m);
    }
}

TEST_CASE("the written layout follows the proposal's table order and alignment", "[stackmap_v2]") {
    const auto bytes = written(converted(both_blobs(fixtures::bytes("both.bin"))));
    const StackMapV2 m = parse_v2(bytes, "t.v2").value();
    CHECK(bytes[0] == 2);
    CHECK(table(bytes, 0) == 32); // 28-byte header, constants aligned to 8
    CHECK(table(bytes, 1) == 32 + 8 * m.constants.size());
    CHECK(table(bytes, 2) == table(bytes, 1) + 28 * m.frames.size());
    CHECK(table(bytes, 3) % 8 == 0);
    CHECK(table(bytes, 4) == ((table(bytes, 3) + 22 * m.records.size() + 3) & ~uint64_t{3}));
    CHECK(table(bytes, 5) == table(bytes, 4) + 8 * m.locations.size());
    CHECK(bytes.size() == table(bytes, 5) + 4 * m.live_outs.size());
}

TEST_CASE("every truncation of a v2 blob is an error", "[stackmap_v2][errors]") {
    const auto bytes = written(converted(both_blobs(fixtures::bytes("both.bin"))));
    for (size_t n = 0; n < bytes.size(); ++n) {
        INFO("length " << n);
        auto r = parse_v2(std::span<const uint8_t>(bytes.data(), n), "t.v2");
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().message.find("t.v2: blob 0 at offset 0x0: ") == 0);
    }
    const auto last = table(bytes, 5) + 4 * (parse_v2(bytes).value().live_outs.size() - 1);
    CHECK(parse_error(std::vector<uint8_t>(bytes.begin(), bytes.end() - 1)) ==
          "t.v2: blob 0 at offset 0x0: unexpected end of data at offset " + hex(bytes.size() - 1) +
              " while reading live-out " + std::to_string((last - table(bytes, 5)) / 4));
    CHECK(parse_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 20)) ==
          "t.v2: blob 0 at offset 0x0: unexpected end of data at offset 0x0 while reading the "
          "header");
}

TEST_CASE("v2 header errors", "[stackmap_v2][errors]") {
    const auto orig = written(converted(both_blobs(fixtures::bytes("both.bin"))));
    const std::string prefix = "t.v2: blob 0 at offset 0x0: ";
    auto b = orig;
    b[0] = 3;
    CHECK(parse_error(b) ==
          prefix + "stack map version 3 at offset 0x0 is LLVM's .llvm_stackmaps format: read it "
                   "with parse_stackmap_section");
    b[0] = 7;
    CHECK(parse_error(b) ==
          prefix + "unsupported flat stack map version 7 at offset 0x0 (parse_v2 reads version 2)");
    b = orig;
    b[3] = 1;
    CHECK(parse_error(b) == prefix + "non-zero reserved header bytes at offset 0x1");
    b = orig;
    poke<uint32_t>(b, 4, 16);
    CHECK(parse_error(b) ==
          prefix + "constants offset 0x10 (at offset 0x4) overlaps the 28-byte header");
    b = orig;
    poke<uint32_t>(b, 12, static_cast<uint32_t>(table(orig, 2) + 2));
    CHECK(parse_error(b) == prefix + "frame registers offset " + hex(table(orig, 2) + 2) +
                                " (at offset 0xc) is not a multiple of 4");
    b = orig;
    const uint64_t before =
        (table(orig, 2) - 1) & ~uint64_t{7}; // aligned for records, before frame registers
    poke<uint32_t>(b, 16, static_cast<uint32_t>(before));
    CHECK(parse_error(b) == prefix + "stack map records offset " + hex(before) +
                                " (at offset 0x10) is before the frame registers offset " +
                                hex(table(orig, 2)));
    b = orig;
    poke<uint32_t>(b, 24, static_cast<uint32_t>(orig.size() + 2));
    CHECK(parse_error(b) == prefix + "live-outs offset " + hex(orig.size() + 2) +
                                " (at offset 0x18) is past the end of the data (" +
                                hex(orig.size()) + " bytes)");
    b = orig;
    poke<uint32_t>(b, 12, static_cast<uint32_t>(table(orig, 2) + 4));
    CHECK(parse_error(b) == prefix + "the frame record table at offset " + hex(table(orig, 1)) +
                                " is " + std::to_string(table(orig, 2) + 4 - table(orig, 1)) +
                                " bytes, not a multiple of 28");
}

TEST_CASE("v2 table errors", "[stackmap_v2][errors]") {
    const StackMapV2 m = converted(both_blobs(fixtures::bytes("both.bin")));
    const auto orig = written(m);
    const std::string prefix = "t.v2: blob 0 at offset 0x0: ";
    const uint64_t locs = table(orig, 4);
    auto b = orig;
    b[locs] = 6;
    CHECK(parse_error(b) == prefix + "location 0 at offset " + hex(locs) + " has invalid kind 6");
    b = orig;
    b[locs + 1] = 1;
    CHECK(parse_error(b) ==
          prefix + "location 0 at offset " + hex(locs) + " has non-zero flags 0x1");
    size_t ci = 0;
    while (m.locations[ci].kind != LocationKind::ConstantIndex) ++ci;
    b = orig;
    poke<int32_t>(b, locs + 8 * ci + 4, static_cast<int32_t>(m.constants.size()));
    CHECK(parse_error(b) == prefix + "location " + std::to_string(ci) + " at offset " +
                                hex(locs + 8 * ci) + ": constant index " +
                                std::to_string(m.constants.size()) + " out of range (" +
                                std::to_string(m.constants.size()) + " constants)");
    // A record pointing past the locations: the location table would run into the live-outs.
    const uint64_t recs = table(orig, 3);
    b = orig;
    poke<uint16_t>(b, recs + 16, static_cast<uint16_t>(m.locations.size()));
    CHECK(parse_error(b) ==
          prefix + "the stack map records reference " +
              std::to_string(m.locations.size() + m.records[0].num_locations) + " locations (" +
              std::to_string(8 * (m.locations.size() + m.records[0].num_locations)) +
              " bytes at offset " + hex(locs) + "), which run into the live-outs at offset " +
              hex(table(orig, 5)));
    // Frame record flags and frame base register.
    const uint64_t frames = table(orig, 1);
    b = orig;
    poke<uint16_t>(b, frames + 16, 0x30);
    CHECK(parse_error(b) ==
          prefix + "frame record 0 at offset " + hex(frames) + " has unknown flags 0x30");
    b = orig;
    poke<uint16_t>(b, frames + 18, 40);
    CHECK(parse_error(b) == prefix + "frame record 0 at offset " + hex(frames) +
                                ": frame base register 40 is out of range (at most 16)");
    // The last record no longer references the last live-outs: unreferenced bytes at the end.
    size_t last = m.records.size();
    while (m.records[--last].num_live_outs == 0) {
    }
    b = orig;
    poke<uint16_t>(b, recs + 22 * last + 18,
                   static_cast<uint16_t>(m.records[last].num_live_outs - 1));
    CHECK(parse_error(b) ==
          prefix + "4 bytes at offset " + hex(orig.size() - 4) + " after the " +
              std::to_string(m.live_outs.size() - 1) +
              " live-outs are referenced by nothing (every entry must be referenced)");
}

TEST_CASE("write_v2 refuses models it could not read back", "[stackmap_v2][errors]") {
    StackMapV2 m = converted(both_blobs(fixtures::bytes("both.bin")));
    auto bad = m;
    bad.records[0].location_index = static_cast<uint16_t>(m.locations.size());
    auto r = write_v2(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message ==
          "write_v2: an index refers to locations entry " +
              std::to_string(m.locations.size() + m.records[0].num_locations - 1) +
              " but there are only " + std::to_string(m.locations.size()));
    bad = m;
    bad.live_outs.push_back({gcwalk::kDwarfRbx, 8});
    r = write_v2(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message == "write_v2: live-outs entries from " +
                                   std::to_string(m.live_outs.size()) +
                                   " on are referenced by nothing");
    bad = m;
    bad.locations[0].kind = static_cast<LocationKind>(0);
    r = write_v2(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("write_v2: blob 0 at offset 0x0: location 0 at offset ") == 0);
}

TEST_CASE("v2_from_v3 refuses stack sizes v2 cannot hold", "[stackmap_v2][errors]") {
    auto bytes = fixtures::bytes("kinds.bin");
    const auto ref = fixtures::readobj("kinds.txt");
    REQUIRE(ref.functions[0].stack_size != kDynamicStackSize);
    poke<uint64_t>(bytes, 16 + 8, uint64_t{1} << 32);
    auto blobs = parse_stackmap_section(bytes, "k.o");
    REQUIRE(blobs.has_value());
    auto v2 = v2_from_v3(*blobs, {});
    REQUIRE_FALSE(v2.has_value());
    CHECK(v2.error().message ==
          "v2_from_v3: blob 0: function 0: stack size 4294967296 does not fit in 32 bits");
}
