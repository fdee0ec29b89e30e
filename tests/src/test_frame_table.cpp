// Packed frame tables (.gcwalk_frames payloads): write/parse round trips, an index built from a
// table against the index built from the same stack maps (the format fixtures, and this
// executable's own image as the registry finds it, CFI rules included), every truncation and
// byte corruption of a payload refused or read safely, and the identity check's messages.
#include "../process_registry.hpp"
#include "fixtures.hpp"
#include "index_functions.hpp" // the managed functions linked in, and their callees

#include <gcwalk/frame_chunks.hpp>
#include <gcwalk/frame_table.hpp>
#include <gcwalk/statepoint.hpp>

#include <catch2/catch.hpp>
#include <zlib.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

using gcwalk::FrameIndex;
using gcwalk::FrameTable;
using gcwalk::ImageStackMaps;

// A format fixture's section (a .o's: every function address 0) with its functions moved to
// distinct addresses, 64 KiB apart, as a linked image would have them.
std::vector<uint8_t> placed_fixture(const std::string& name) {
    std::vector<uint8_t> bytes = fixtures::bytes(name);
    auto blobs = gcwalk::parse_stackmap_section(bytes, name);
    REQUIRE(blobs);
    uint64_t next = 0x100000;
    for (const auto& blob : *blobs)
        for (uint32_t f = 0; f < blob.num_functions(); ++f, next += 0x10000)
            std::memcpy(bytes.data() + blob.offset_in_section() + blob.function_entry_offset(f),
                        &next, 8);
    return bytes;
}

ImageStackMaps image_of(const std::vector<uint8_t>& section, const std::string& name) {
    ImageStackMaps img;
    img.name = name;
    img.section = section;
    return img;
}

FrameIndex build(ImageStackMaps img) {
    std::vector<ImageStackMaps> v;
    v.push_back(std::move(img));
    auto index = FrameIndex::build(std::move(v));
    INFO((index ? "" : index.error().message));
    REQUIRE(index);
    return std::move(*index);
}

// `img` as a packed image: packed, written, parsed back (equal), handed to the index as a table.
ImageStackMaps packed(const ImageStackMaps& img, FrameTable* out = nullptr) {
    auto table = gcwalk::pack_frame_table(img, {});
    INFO((table ? "" : table.error().message));
    REQUIRE(table);
    auto bytes = gcwalk::write_frame_table(*table);
    INFO((bytes ? "" : bytes.error().message));
    REQUIRE(bytes);
    auto back = gcwalk::parse_frame_table(*bytes, img.name);
    INFO((back ? "" : back.error().message));
    REQUIRE(back);
    REQUIRE(*back == *table);
    if (out) *out = *back;
    ImageStackMaps p;
    p.name = img.name;
    p.load_bias = img.load_bias;
    p.table = std::make_shared<const FrameTable>(std::move(*back));
    return p;
}

bool same_rule(const gcwalk::FrameRule& a, const gcwalk::FrameRule& b) {
    return a.cfa_offset == b.cfa_offset && a.cfa_reg == b.cfa_reg && a.flags == b.flags &&
           std::memcmp(a.saved, b.saved, sizeof a.saved) == 0;
}

// Everything a walker or a tool can ask of the two indexes is the same: functions (but for
// which blob of which section a record is in), call sites, their roots and rules, and records.
void require_same(const FrameIndex& v3, const FrameIndex& table) {
    REQUIRE(v3.frames().size() == table.frames().size());
    for (size_t i = 0; i < v3.frames().size(); ++i) {
        const gcwalk::FrameRecord &a = v3.frames()[i], &b = table.frames()[i];
        CHECK(a.function_address == b.function_address);
        CHECK(a.function_size == b.function_size);
        CHECK(a.stack_size == b.stack_size);
        CHECK(a.flags == b.flags);
        CHECK(a.image == b.image);
        CHECK(a.num_records == b.num_records);
    }
    CHECK(v3.register_roots() == table.register_roots());
    const auto sa = v3.call_sites(), sb = table.call_sites();
    REQUIRE(sa.size() == sb.size());
    REQUIRE(v3.num_call_sites() == table.num_call_sites());
    for (size_t i = 0; i < sa.size(); ++i) {
        const gcwalk::CallSite &a = sa[i], &b = sb[i];
        INFO("call site " << i << " at 0x" << std::hex << a.return_address());
        REQUIRE(a.key == b.key);
        CHECK(a.rule == b.rule);
        CHECK(a.step == b.step);
        CHECK(a.plain_roots() == b.plain_roots());
        CHECK(same_rule(v3.rule(a), table.rule(b)));
        const auto ra = v3.roots(a), rb = table.roots(b);
        REQUIRE(ra.size() == rb.size());
        for (size_t k = 0; k < ra.size(); ++k) {
            CHECK(ra[k].base.bits == rb[k].base.bits);
            CHECK(ra[k].derived.bits == rb[k].derived.bits);
        }
        REQUIRE(table.find(b.return_address()) != nullptr);
        gcwalk::RecordRef x, y;
        REQUIRE(v3.record(a, &x));
        REQUIRE(table.record(*table.find(b.return_address()), &y));
        CHECK(x.is_statepoint == y.is_statepoint);
        CHECK(x.view.id() == y.view.id());
        CHECK(x.view.instruction_offset() == y.view.instruction_offset());
        CHECK(x.view.flags() == y.view.flags());
        REQUIRE(x.view.num_locations() == y.view.num_locations());
        for (uint16_t l = 0; l < x.view.num_locations(); ++l) {
            const gcwalk::Location p = x.view.location(l), q = y.view.location(l);
            CHECK(p.kind == q.kind);
            CHECK(p.size == q.size);
            CHECK(p.dwarf_reg == q.dwarf_reg);
            if (p.kind == gcwalk::LocationKind::ConstantIndex)
                CHECK(gcwalk::constant_value(v3.blob(x), p) ==
                      gcwalk::constant_value(table.blob(y), q));
            else
                CHECK(p.offset == q.offset);
        }
        REQUIRE(x.view.num_live_outs() == y.view.num_live_outs());
        for (uint16_t l = 0; l < x.view.num_live_outs(); ++l) {
            CHECK(x.view.live_out(l).dwarf_reg == y.view.live_out(l).dwarf_reg);
            CHECK(x.view.live_out(l).size == y.view.live_out(l).size);
        }
        // The view's function is the call site's FrameRecord (link-time address + load bias).
        const gcwalk::FrameRecord* f = table.frame(b);
        REQUIRE(f != nullptr);
        CHECK(y.function == f->function);
        CHECK(y.record >= f->first_record);
        CHECK(y.record < f->first_record + f->num_records);
        const int64_t bias = table.images()[f->image].load_bias;
        CHECK(table.blob(y).function(y.function).address + static_cast<uint64_t>(bias) ==
              f->function_address);
    }
}

const char* const kFixtures[] = {"kinds.bin", "rs4gc.bin", "both.bin"};

} // namespace

TEST_CASE("a packed table reads back equal and indexes as its stack maps do, on every fixture",
          "[frame_table]") {
    for (const char* name : kFixtures) {
        INFO(name);
        const std::vector<uint8_t> section = placed_fixture(name);
        const ImageStackMaps img = image_of(section, name);
        FrameTable table;
        const FrameIndex from_v3 = build(img);
        const FrameIndex from_table = build(packed(img, &table));
        CHECK(table.records.size() == from_v3.num_call_sites());
        require_same(from_v3, from_table);
        // Shared lists: no more locations than the records have.
        size_t locations = 0;
        for (const auto& r : table.records) locations += r.num_locations;
        CHECK(table.locations.size() <= locations);
        auto bytes = gcwalk::write_frame_table(table);
        REQUIRE(bytes);
        WARN(name << ": " << bytes->size() << " payload bytes for " << table.records.size()
                  << " call sites (" << bytes->size() / std::max<size_t>(1, table.records.size())
                  << " per call site); the v3 section is " << section.size() << " bytes");
    }
}

TEST_CASE("a packed table at a load bias indexes at the same absolute addresses", "[frame_table]") {
    const std::vector<uint8_t> section = placed_fixture("both.bin");
    ImageStackMaps img = image_of(section, "both.bin");
    img.load_bias = 0x7f0000000000;
    require_same(build(img), build(packed(img)));
    FrameTable table;
    (void)packed(img, &table);
    CHECK(table.functions.front().address == 0x100000); // link-time, as in the section
}

TEST_CASE("this executable's image packed with its CFI rules indexes as the registry's does",
          "[frame_table]") {
    const FrameIndex& current = gcwalk::test::registry().index();
    size_t checked = 0;
    for (const ImageStackMaps& img : current.images()) {
        if (img.section.empty()) continue;
        const FrameIndex from_v3 = build(img);
        bool any_rule = false;
        for (const auto& f : from_v3.frames()) any_rule |= (f.flags & gcwalk::kFrameHasRule) != 0;
        CHECK(any_rule);
        require_same(from_v3, build(packed(img)));
        ++checked;
    }
    CHECK(checked >= 1);
}

TEST_CASE("two images, one packed and one not, index as both unpacked", "[frame_table]") {
    const std::vector<uint8_t> a = placed_fixture("kinds.bin"), b = placed_fixture("rs4gc.bin");
    ImageStackMaps ia = image_of(a, "kinds"), ib = image_of(b, "rs4gc");
    ib.load_bias = 0x40000000;
    std::vector<ImageStackMaps> both = {ia, ib}, mixed = {ia, packed(ib)};
    auto x = FrameIndex::build(std::move(both));
    auto y = FrameIndex::build(std::move(mixed));
    REQUIRE(x);
    REQUIRE(y);
    require_same(*x, *y);
}

TEST_CASE("every truncation and every byte corruption of a payload is refused or read safely",
          "[frame_table]") {
    const std::vector<uint8_t> section = placed_fixture("both.bin");
    FrameTable table;
    (void)packed(image_of(section, "both.bin"), &table);
    auto good = gcwalk::write_frame_table(table);
    REQUIRE(good);
    for (size_t n = 0; n < good->size(); ++n) {
        std::vector<uint8_t> cut(good->begin(), good->begin() + static_cast<long>(n));
        auto t = gcwalk::parse_frame_table(cut, "cut");
        REQUIRE_FALSE(t);
        REQUIRE(t.error().message.rfind("cut: frame table at offset 0x", 0) == 0);
    }
    size_t refused = 0, read = 0;
    for (size_t i = 0; i < good->size(); ++i) {
        for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
            std::vector<uint8_t> bad = *good;
            bad[i] ^= flip;
            auto t = gcwalk::parse_frame_table(bad, "bad");
            if (!t) {
                ++refused;
                REQUIRE(t.error().message.rfind("bad: frame table at offset 0x", 0) == 0);
                continue;
            }
            ++read;
            // What reads back writes back the same bytes, and indexes or fails with a message.
            auto again = gcwalk::write_frame_table(*t);
            REQUIRE(again);
            REQUIRE(*again == bad);
            ImageStackMaps img;
            img.name = "bad";
            img.table = std::make_shared<const FrameTable>(std::move(*t));
            std::vector<ImageStackMaps> v;
            v.push_back(img);
            if (auto index = FrameIndex::build(std::move(v)))
                for (const auto& cs : index->call_sites()) {
                    gcwalk::RecordRef ref;
                    (void)index->record(cs, &ref);
                    (void)index->roots(cs);
                }
        }
    }
    CHECK(refused > 0);
    CHECK(read > 0); // ids, offsets and constants are free values
}

TEST_CASE("the frame table parser's messages name the offset", "[frame_table]") {
    const std::vector<uint8_t> section = placed_fixture("kinds.bin");
    FrameTable table;
    (void)packed(image_of(section, "kinds.bin"), &table);
    auto bytes = gcwalk::write_frame_table(table);
    REQUIRE(bytes);
    auto message = [](std::vector<uint8_t> b) {
        auto t = gcwalk::parse_frame_table(b, "libx.so");
        REQUIRE_FALSE(t);
        return t.error().message;
    };
    std::vector<uint8_t> b = *bytes;
    b[0] = 'X';
    CHECK(message(b) == "libx.so: frame table at offset 0x0: no GCWFRAME magic: not a gcwalk "
                        "frame table");
    b = *bytes;
    b[8] = 1; // the layout before the hot and cold tables were split
    CHECK(message(b) == "libx.so: frame table at offset 0x8: unsupported frame table version 1 "
                        "(gcwalk reads version 2): re-run gcwalk-pack");
    b = *bytes;
    b.resize(b.size() - 8);
    CHECK(message(b) == "libx.so: frame table at offset 0x10: the header says " +
                            std::to_string(bytes->size()) + " bytes but the payload has " +
                            std::to_string(b.size()));
    // A site's rule past the rules table.
    FrameTable t = table;
    t.sites[0].rule = static_cast<uint32_t>(t.rules.size());
    auto w = gcwalk::write_frame_table(t);
    REQUIRE_FALSE(w);
    CHECK(w.error().message.find("write_frame_table: frame table at offset 0x") == 0);
    CHECK(w.error().message.find(": site 0: rule " + std::to_string(t.rules.size()) +
                                 " out of range") != std::string::npos);
    // Functions out of order.
    t = table;
    REQUIRE(t.functions.size() >= 2);
    std::swap(t.functions[0].address, t.functions[1].address);
    w = gcwalk::write_frame_table(t);
    REQUIRE_FALSE(w);
    CHECK(w.error().message.find("function 1 at 0x100000 is not after the end of the previous") !=
          std::string::npos);
    // Plain roots claimed for a record whose roots are not.
    t = table;
    for (auto& r : t.sites)
        if (r.num_roots > 0 && !(r.site_flags & gcwalk::kPackedPlainRoots)) {
            r.site_flags |= gcwalk::kPackedPlainRoots;
            w = gcwalk::write_frame_table(t);
            REQUIRE_FALSE(w);
            CHECK(w.error().message.find("claims plain roots") != std::string::npos);
            break;
        }
}

TEST_CASE("frame_table_hash continues across any split and sees every byte", "[frame_table]") {
    std::vector<uint8_t> bytes(301);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 3);
    const uint64_t whole = gcwalk::frame_table_hash(bytes);
    for (size_t split = 0; split <= bytes.size(); ++split) {
        const uint64_t a = gcwalk::frame_table_hash({bytes.data(), split});
        REQUIRE(gcwalk::frame_table_hash({bytes.data() + split, bytes.size() - split}, a) == whole);
    }
    for (size_t i = 0; i < bytes.size(); ++i) {
        std::vector<uint8_t> b = bytes;
        b[i] ^= 0x10;
        REQUIRE(gcwalk::frame_table_hash(b) != whole);
    }
    CHECK(gcwalk::frame_table_hash({}, 1234) == 1234);
}

TEST_CASE("check_identity names a build ID or code mismatch", "[frame_table]") {
    static const uint8_t code[] = {0x55, 0x48, 0x89, 0xe5, 0xe8, 0, 0, 0, 0, 0x5d, 0xc3};
    gcwalk::FrameTableIdentity id;
    id.build_id = {0x12, 0x34, 0xab};
    // The code at link-time address 0x1000, loaded at `bias`.
    const uint64_t bias = reinterpret_cast<uint64_t>(code) - 0x1000;
    id.code = {{0x1000, 4}, {0x1004, sizeof code - 4}};
    id.code_hash = gcwalk::frame_table_hash(code);
    const std::vector<uint8_t> same = {0x12, 0x34, 0xab}, other = {0x56, 0x78};
    CHECK(gcwalk::check_identity(id, same, bias).empty());
    CHECK(gcwalk::check_identity(id, {}, bias).empty()); // no build ID to compare
    CHECK(gcwalk::check_identity(id, other, bias) ==
          ".gcwalk_frames was packed for build ID 1234ab but the image has build ID 5678: "
          "re-run gcwalk-pack on this build");
    id.code_hash ^= 1;
    const std::string m = gcwalk::check_identity(id, same, bias);
    CHECK(m.rfind(".gcwalk_frames was packed for code hashing to 0x", 0) == 0);
    CHECK(m.find("but the image's code (2 ranges, 11 bytes) hashes to 0x") != std::string::npos);
}

namespace {

// `payload` as a .gcwalk_frames section of zlib chunks ending at each of `cuts` (and at its end).
std::vector<uint8_t> section_of(const std::vector<uint8_t>& payload, std::vector<uint64_t> cuts) {
    cuts.push_back(payload.size());
    std::vector<uint8_t> section;
    uint64_t at = 0;
    for (uint64_t end : cuts) {
        std::vector<uint8_t> z(compressBound(static_cast<uLong>(end - at)));
        uLongf zn = z.size();
        REQUIRE(compress2(z.data(), &zn, payload.data() + at, static_cast<uLong>(end - at), 9) ==
                Z_OK);
        z.resize(zn);
        gcwalk::append_frame_chunk(section, end - at, z);
        at = end;
    }
    return section;
}

// The both.bin fixture packed: its table (whole) and payload.
struct Packed {
    FrameTable table;
    std::vector<uint8_t> payload;
    ImageStackMaps v3;
};
Packed packed_fixture(const std::vector<uint8_t>& section) {
    Packed p;
    p.v3 = image_of(section, "both.bin");
    (void)packed(p.v3, &p.table);
    auto bytes = gcwalk::write_frame_table(p.table);
    REQUIRE(bytes);
    p.payload = std::move(*bytes);
    return p;
}

ImageStackMaps table_image(FrameTable t) {
    ImageStackMaps img;
    img.name = "libx.so";
    img.table = std::make_shared<const FrameTable>(std::move(t));
    return img;
}

} // namespace

TEST_CASE("a section whose cold tables start a chunk is read without them, inflated for record()",
          "[frame_table]") {
    const std::vector<uint8_t> fixture = placed_fixture("both.bin");
    const Packed p = packed_fixture(fixture);
    const uint64_t cold = gcwalk::frame_table_cold_offset(p.payload);
    REQUIRE(cold > 0);
    REQUIRE(cold < p.payload.size());
    const std::vector<uint8_t> section = section_of(p.payload, {cold});

    auto whole = gcwalk::read_frame_table_section(section, "libx.so", false);
    REQUIRE(whole);
    CHECK(*whole == p.table);
    auto lazy = gcwalk::read_frame_table_section(section, "libx.so", true);
    INFO((lazy ? "" : lazy.error().message));
    REQUIRE(lazy);
    REQUIRE(lazy->deferred != nullptr);
    CHECK(lazy->identity == p.table.identity);
    CHECK(lazy->functions == p.table.functions);
    CHECK(lazy->sites == p.table.sites);
    CHECK(lazy->roots.size() == p.table.roots.size());
    CHECK(lazy->rules.size() == p.table.rules.size());
    CHECK(lazy->records.empty());
    CHECK(lazy->locations.empty());
    CHECK(lazy->constants.empty());
    CHECK(lazy->live_outs.empty());
    auto v3_whole = gcwalk::v3_from_frame_table(p.table);
    auto v3_lazy = gcwalk::v3_from_frame_table(*lazy);
    REQUIRE(v3_whole);
    INFO((v3_lazy ? "" : v3_lazy.error().message));
    REQUIRE(v3_lazy);
    CHECK(*v3_whole == *v3_lazy);
    // Made whole, it is the table; packed again from an image holding it, too.
    FrameTable whole_again = *lazy;
    REQUIRE(gcwalk::inflate_deferred_tables(whole_again));
    CHECK(whole_again == p.table);
    auto repacked = gcwalk::pack_frame_table(table_image(*lazy), p.table.identity);
    REQUIRE(repacked);
    CHECK(*repacked == p.table);
    // Lookups, roots, rules and records (made from the inflated cold tables) as from v3.
    require_same(build(p.v3), build(table_image(std::move(*lazy))));

    // One chunk, or a cut elsewhere: nothing is left compressed.
    for (const auto& other : {section_of(p.payload, {}), section_of(p.payload, {cold - 8}),
                              section_of(p.payload, {cold + 8})}) {
        auto t = gcwalk::read_frame_table_section(other, "libx.so", true);
        REQUIRE(t);
        CHECK(t->deferred == nullptr);
        CHECK(*t == p.table);
    }
}

TEST_CASE("hot tables are checked when read, cold ones when record() inflates them",
          "[frame_table]") {
    const std::vector<uint8_t> fixture = placed_fixture("both.bin");
    const Packed p = packed_fixture(fixture);
    const uint64_t cold = gcwalk::frame_table_cold_offset(p.payload);

    // A corrupt hot table is refused up front, with or without deferring.
    std::vector<uint8_t> payload = p.payload;
    REQUIRE_FALSE(p.table.roots.empty());
    const size_t roots_at = cold - 8 * p.table.roots.size(); // the last hot table (8-byte entries)
    payload[roots_at] = 0xff;                                // the first root: invalid kind 3
    for (bool defer : {false, true}) {
        auto t = gcwalk::read_frame_table_section(section_of(payload, {cold}), "libx.so", defer);
        REQUIRE_FALSE(t);
        CHECK(t.error().message.rfind("libx.so: .gcwalk_frames: frame table at offset 0x", 0) == 0);
        CHECK(t.error().message.find("invalid root kind 3") != std::string::npos);
    }

    // A corrupt cold table: read (deferred), then refused where the records are made.
    std::vector<uint8_t> bad = p.payload;
    // The first location's kind byte, found by its entry's bytes (after the records).
    const gcwalk::Location& l0 = p.table.locations[0];
    bool placed = false;
    for (size_t at = cold; at + 12 <= bad.size() && !placed; at += 4)
        if (bad[at] == static_cast<uint8_t>(l0.kind) && bad[at + 1] == 0 &&
            std::memcmp(&bad[at + 2], &l0.size, 2) == 0 &&
            std::memcmp(&bad[at + 4], &l0.dwarf_reg, 2) == 0 &&
            std::memcmp(&bad[at + 8], &l0.offset, 4) == 0 && at % 4 == 0) {
            bad[at] = 9;
            placed = true;
        }
    REQUIRE(placed);
    REQUIRE_FALSE(gcwalk::parse_frame_table(bad, "whole"));
    auto lazy = gcwalk::read_frame_table_section(section_of(bad, {cold}), "libx.so", true);
    REQUIRE(lazy);
    REQUIRE(lazy->deferred != nullptr);
    auto v3 = gcwalk::v3_from_frame_table(*lazy);
    REQUIRE_FALSE(v3);
    FrameTable kept = *lazy;
    const gcwalk::Status st = gcwalk::inflate_deferred_tables(kept);
    REQUIRE_FALSE(st);
    CHECK(st.message() == v3.error().message);
    CHECK(kept == *lazy); // left as it was
    CHECK(v3.error().message.rfind("libx.so: .gcwalk_frames: frame table at offset 0x", 0) == 0);
    CHECK(v3.error().message.find("has invalid kind 9") != std::string::npos);
    // The index walks (roots and rules are hot); record() answers false and says why.
    const FrameIndex index = build(table_image(std::move(*lazy)));
    const auto sites = index.call_sites();
    REQUIRE_FALSE(sites.empty());
    gcwalk::RecordRef ref;
    CHECK_FALSE(index.record(sites[0], &ref));
    CHECK(index.record_error(0).find("has invalid kind 9") != std::string::npos);
    CHECK(index.roots(sites[0]).size() == build(p.v3).roots(sites[0]).size());

    // A corrupt compressed byte in the cold chunk: its chunk is named.
    std::vector<uint8_t> section = section_of(p.payload, {cold});
    section[section.size() - 2] ^= 0x55; // inside the last chunk's Adler-32
    auto t = gcwalk::read_frame_table_section(section, "libx.so", true);
    REQUIRE(t);
    auto v = gcwalk::v3_from_frame_table(*t);
    REQUIRE_FALSE(v);
    CHECK(v.error().message.rfind("libx.so: .gcwalk_frames chunk 1 at offset 0x", 0) == 0);
    CHECK_FALSE(gcwalk::read_frame_table_section(section, "libx.so", false));
}
