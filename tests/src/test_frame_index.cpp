// FrameIndex: built from the stack maps of managed functions linked into this test executable,
// checked against llvm-readobj's reading of the same object.
#include "../readobj_text.hpp"
#include "index_functions.hpp"

#include <gcwalk/frame_index.hpp>
#include <gcwalk/image_registry.hpp>
#include <gcwalk/statepoint.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

namespace {

using gcwalk::test::parse_readobj_stackmap;
using gcwalk::test::read_text_file;

uint64_t addr(const void* f) {
    return reinterpret_cast<uint64_t>(f);
}

// The managed functions of this executable, in the order the object's blob lists them.
const std::vector<uint64_t>& managed_functions() {
    static const std::vector<uint64_t> fns = {addr(reinterpret_cast<const void*>(&idx_two_roots)),
                                              addr(reinterpret_cast<const void*>(&idx_no_roots)),
                                              addr(reinterpret_cast<const void*>(&idx_make_pair))};
    return fns;
}

gcwalk::ImageRegistry& registry() {
    static gcwalk::ImageRegistry r;
    static bool scanned = [] {
        auto st = r.rescan();
        INFO(st.message());
        REQUIRE(st);
        return true;
    }();
    (void)scanned;
    return r;
}

std::string describe(gcwalk::RootLoc l) {
    if (l.kind() == gcwalk::RootLoc::kRegister) return "R#" + std::to_string(l.dwarf_reg());
    return "[R#" + std::to_string(l.dwarf_reg()) + " + " + std::to_string(l.offset()) + "]";
}

} // namespace

TEST_CASE("the index holds every function and record of the linked object", "[frame_index]") {
    const gcwalk::FrameIndex& index = registry().index();
    auto expected = parse_readobj_stackmap(read_text_file(GCWALK_INDEX_READOBJ));
    REQUIRE(expected.functions.size() == managed_functions().size());

    size_t rec = 0;
    for (size_t f = 0; f < expected.functions.size(); ++f) {
        uint64_t fn = managed_functions()[f];
        const gcwalk::FrameRecord* fr = index.function_containing(fn);
        REQUIRE(fr != nullptr);
        CHECK(fr->function_address == fn);
        CHECK(fr->stack_size == expected.functions[f].stack_size);
        CHECK(fr->num_records == expected.functions[f].record_count);
        CHECK((fr->flags & gcwalk::kFrameSizeUnknown) == 0); // the symbol table gave the size

        for (uint64_t r = 0; r < expected.functions[f].record_count; ++r, ++rec) {
            const auto& er = expected.records.at(rec);
            uint64_t ra = fn + er.instruction_offset;
            const gcwalk::CallSite* cs = index.find(ra);
            REQUIRE(cs != nullptr);
            CHECK(cs->return_address() == ra);

            // Roots: the distinct non-constant pairs readobj shows.
            auto pairs = gcwalk::test::readobj_statepoint_pairs(er);
            auto roots = index.roots(*cs);
            REQUIRE(roots.size() == pairs.size());
            for (const auto& p : pairs) {
                bool found =
                    std::any_of(roots.begin(), roots.end(), [&](const gcwalk::RootPair& rp) {
                        return describe(rp.base) == p.first && describe(rp.derived) == p.second;
                    });
                INFO(p.first << " / " << p.second);
                CHECK(found);
            }

            // The frame rule without CFI: CFA = RSP + stack size + 8.
            const gcwalk::FrameRule& rule = index.rule(*cs);
            CHECK(rule.cfa_reg == gcwalk::kDwarfRsp);
            CHECK(rule.cfa_offset == static_cast<int32_t>(expected.functions[f].stack_size + 8));

            // The full record, found cold.
            gcwalk::RecordRef ref;
            REQUIRE(index.record(*cs, &ref));
            CHECK(ref.view.id() == er.id);
            CHECK(ref.view.instruction_offset() == er.instruction_offset);
            CHECK(ref.view.num_locations() == er.locations.size());
            CHECK(ref.is_statepoint);
            CHECK(index.frame(*cs) == fr);
        }
    }
}

TEST_CASE("lookups tell safepoints, managed addresses without a record, and native code apart",
          "[frame_index]") {
    const gcwalk::FrameIndex& index = registry().index();
    auto expected = parse_readobj_stackmap(read_text_file(GCWALK_INDEX_READOBJ));
    uint64_t fn = managed_functions()[0];
    uint64_t ra = fn + expected.records.at(0).instruction_offset;

    const gcwalk::CallSite* site = nullptr;
    const gcwalk::FrameRecord* function = nullptr;
    CHECK(index.classify(ra, &site, &function) == gcwalk::Lookup::Safepoint);
    CHECK(site == index.find(ra));

    // One byte after a safepoint is still inside the function, and is no safepoint.
    CHECK(index.find(ra + 1) == nullptr);
    CHECK(index.classify(ra + 1, &site, &function) == gcwalk::Lookup::ManagedNoRecord);
    REQUIRE(function != nullptr);
    CHECK(function->function_address == fn);

    uint64_t native = addr(reinterpret_cast<const void*>(&gcwalk_test_make));
    CHECK(index.classify(native, &site, &function) == gcwalk::Lookup::NotManaged);
    CHECK(index.find(0) == nullptr);
    CHECK(index.find(~uint64_t{0}) == nullptr);
}

TEST_CASE("every call site of the index is found, and near misses are not", "[frame_index]") {
    const gcwalk::FrameIndex& index = registry().index();
    auto sites = index.call_sites();
    REQUIRE(sites.size() == index.num_call_sites());
    REQUIRE(sites.size() >= 5);
    for (const auto& cs : sites) {
        CHECK(index.find(cs.return_address()) != nullptr);
        CHECK(index.find(cs.return_address() + 0x100000) == nullptr);
    }
    CHECK(index.resident_bytes() > 0);
}

namespace {

// A hand-built v3 blob: `nfunc` functions at base + 0x100 * i, each with one record at offset 8
// holding one statepoint pair [RSP + 16].
std::vector<uint8_t> make_blob_at(const std::vector<uint64_t>& functions,
                                  int32_t root_offset = 16) {
    const uint32_t nfunc = static_cast<uint32_t>(functions.size());
    std::vector<uint8_t> b;
    auto put = [&](uint64_t v, size_t n) {
        for (size_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    put(3, 1), put(0, 1), put(0, 2);         // version, reserved
    put(nfunc, 4), put(0, 4), put(nfunc, 4); // functions, constants, records
    for (uint64_t fn : functions) put(fn, 8), put(24, 8), put(1, 8);
    for (uint32_t f = 0; f < nfunc; ++f) {
        put(0xABCDEF00, 8), put(8, 4), put(0, 2), put(5, 2); // id, offset, flags, 5 locations
        for (int c = 0; c < 3; ++c)
            put(4, 1), put(0, 1), put(8, 2), put(0, 2), put(0, 2), put(0, 4);
        for (int c = 0; c < 2; ++c)
            put(3, 1), put(0, 1), put(8, 2), put(gcwalk::kDwarfRsp, 2), put(0, 2),
                put(static_cast<uint32_t>(root_offset), 4);
        put(0, 4);            // align to 8
        put(0, 2), put(0, 2); // padding, 0 live-outs
        put(0, 4);            // align to 8
    }
    return b;
}

// The index of one image whose section is `bytes`.
gcwalk::Expected<gcwalk::FrameIndex> index_of(const char* name, const std::vector<uint8_t>& bytes) {
    gcwalk::ImageStackMaps img;
    img.name = name;
    img.section = bytes;
    std::vector<gcwalk::ImageStackMaps> images;
    images.push_back(std::move(img));
    return gcwalk::FrameIndex::build(std::move(images));
}

// nfunc functions 0x100 apart from base, one record each at offset 8 with one [RSP + 16] root.
std::vector<uint8_t> make_blob(uint64_t base, uint32_t nfunc) {
    std::vector<uint64_t> functions;
    for (uint32_t f = 0; f < nfunc; ++f) functions.push_back(base + 0x100 * f);
    return make_blob_at(functions);
}

} // namespace

TEST_CASE("JIT blobs are added and removed", "[image_registry]") {
    gcwalk::ImageRegistry reg;
    const uint64_t base = 0x7000'0000'0000;
    auto bytes = make_blob(base, 3);
    auto h =
        reg.add_jit("jit-1", bytes, {{base, 0x80}, {base + 0x100, 0x80}, {base + 0x200, 0x80}});
    REQUIRE(h);
    const gcwalk::FrameIndex& idx = reg.index();
    REQUIRE(idx.num_call_sites() == 3);
    for (int f = 0; f < 3; ++f) {
        const gcwalk::CallSite* cs = idx.find(base + 0x100 * f + 8);
        REQUIRE(cs);
        REQUIRE(idx.roots(*cs).size() == 1);
        CHECK(idx.roots(*cs)[0].base.offset() == 16);
        CHECK(idx.roots(*cs)[0].base.dwarf_reg() == gcwalk::kDwarfRsp);
    }
    CHECK(idx.classify(base + 0x40, nullptr, nullptr) == gcwalk::Lookup::ManagedNoRecord);
    CHECK(idx.classify(base + 0x90, nullptr, nullptr) == gcwalk::Lookup::NotManaged);

    // Without sizes, a function ends at its last call site.
    auto h2 = reg.add_jit("jit-2", make_blob(base + 0x10000, 1));
    REQUIRE(h2);
    const gcwalk::FrameRecord* f2 = reg.index().function_containing(base + 0x10000);
    REQUIRE(f2);
    CHECK((f2->flags & gcwalk::kFrameSizeUnknown) != 0);
    CHECK(reg.index().num_call_sites() == 4);

    REQUIRE(reg.remove_jit(*h));
    CHECK(reg.index().num_call_sites() == 1);
    CHECK(reg.index().find(base + 8) == nullptr);
    // The old index stays readable until reclaim().
    CHECK(idx.find(base + 8) != nullptr);
    reg.reclaim();

    auto bad = reg.remove_jit(*h);
    CHECK_FALSE(bad);
    CHECK(bad.message() == "no JIT stack maps with handle " + std::to_string(*h));
}

TEST_CASE("bad JIT blobs are refused with a message naming the blob", "[image_registry]") {
    gcwalk::ImageRegistry reg;
    auto bytes = make_blob(0x7000'0000'0000, 1);
    bytes.resize(bytes.size() - 9);
    auto h = reg.add_jit("jit-truncated", bytes);
    REQUIRE_FALSE(h);
    CHECK(h.error().message.rfind("jit-truncated: blob 0", 0) == 0);
    CHECK(reg.index().num_call_sites() == 0);

    // Addresses that are not absolute (a .o's zeros) cannot be indexed.
    auto zero = reg.add_jit("jit-zero", make_blob(0, 1));
    REQUIRE_FALSE(zero);
    CHECK(zero.error().message ==
          "jit-zero: blob 0 function 0 at 0x0: function address is not a usable absolute address "
          "(unrelocated stack maps?)");

    // Two images whose functions overlap.
    REQUIRE(reg.add_jit("jit-a", make_blob(0x7000'0000'0000, 1), {{0x7000'0000'0000, 0x200}}));
    auto overlap = reg.add_jit("jit-b", make_blob(0x7000'0000'0100, 1));
    REQUIRE_FALSE(overlap);
    CHECK(overlap.error().message ==
          "function at 0x700000000000 (jit-a) overlaps function at 0x700000000100 (jit-b)");
}

namespace {

// The blob object the index reads for the call site at `ra` (its identity tells whether a
// section was parsed again).
const gcwalk::StackMapBlob* blob_at(const gcwalk::FrameIndex& idx, uint64_t ra) {
    const gcwalk::CallSite* cs = idx.find(ra);
    gcwalk::RecordRef ref;
    if (!cs || !idx.record(*cs, &ref)) return nullptr;
    return &idx.blob(ref);
}

} // namespace

TEST_CASE("an index reads the blobs it is handed instead of parsing the section again",
          "[frame_index]") {
    const uint64_t base = 0x7000'0000'0000;
    const auto bytes = make_blob(base, 2);
    auto parsed = gcwalk::parse_stackmap_section(bytes, "pre-parsed");
    REQUIRE(parsed);
    auto blobs = std::make_shared<const std::vector<gcwalk::StackMapBlob>>(std::move(*parsed));

    std::vector<gcwalk::ImageStackMaps> in(2);
    in[0].name = "pre-parsed";
    in[0].section = bytes;
    in[0].blobs = blobs;
    const auto other = make_blob(base + 0x10000, 1);
    in[1].name = "parsed-by-build";
    in[1].section = other;
    auto idx = gcwalk::FrameIndex::build(std::move(in));
    REQUIRE(idx);
    CHECK(idx->num_call_sites() == 3);
    CHECK(blob_at(*idx, base + 8) == &(*blobs)[0]);
    CHECK(blob_at(*idx, base + 0x100 + 8) == &(*blobs)[0]);
    const gcwalk::StackMapBlob* own = blob_at(*idx, base + 0x10000 + 8);
    REQUIRE(own);
    CHECK(own->bytes().data() == other.data());
    CHECK(blobs.use_count() == 3); // here, the index, and the index's copy of the input
}

TEST_CASE("every index the registry publishes reads the blobs parsed when the JIT blob was added",
          "[image_registry]") {
    gcwalk::ImageRegistry reg;
    const uint64_t base = 0x7000'0000'0000;
    REQUIRE(reg.add_jit("jit-1", make_blob(base, 1)));
    const gcwalk::FrameIndex* first = &reg.index();
    const gcwalk::StackMapBlob* parsed = blob_at(*first, base + 8);
    REQUIRE(parsed);

    auto h2 = reg.add_jit("jit-2", make_blob(base + 0x10000, 1));
    REQUIRE(h2);
    REQUIRE(&reg.index() != first); // a new index, built without parsing jit-1 again
    CHECK(blob_at(reg.index(), base + 8) == parsed);
    REQUIRE(reg.remove_jit(*h2));
    CHECK(blob_at(reg.index(), base + 8) == parsed);
}

TEST_CASE("past 65535 distinct frame rules, call sites fall back to a rule that is not exact",
          "[frame_index]") {
    // A call site keeps its rule's index in 16 bits: an image with more distinct rules than that
    // must still index (the extra call sites are walked by libunwind), never wrap an index.
    constexpr uint32_t kFunctions = 70000;
    const uint64_t base = 0x6000'0000'0000;
    const std::vector<uint8_t> bytes = make_blob(base, kFunctions);
    gcwalk::ImageStackMaps img;
    img.name = "many-rules";
    img.section = bytes;
    for (uint32_t f = 0; f < kFunctions; ++f) {
        gcwalk::FrameRule r{};
        r.cfa_reg = gcwalk::kDwarfRsp;
        r.cfa_offset = static_cast<int32_t>(16 + 8 * f); // each function's own rule
        r.flags = gcwalk::kRuleFromCfi;
        img.rules.emplace_back(base + 0x100 * f + 8, r);
    }
    std::vector<gcwalk::ImageStackMaps> images;
    images.push_back(std::move(img));
    auto index = gcwalk::FrameIndex::build(std::move(images));
    REQUIRE(index);
    REQUIRE(index->num_call_sites() == kFunctions);
    uint32_t exact = 0, fallback = 0;
    for (uint32_t f = 0; f < kFunctions; ++f) {
        const gcwalk::CallSite* cs = index->find(base + 0x100 * f + 8);
        REQUIRE(cs);
        const gcwalk::FrameRule& r = index->rule(*cs);
        if (r.flags & gcwalk::kRuleFromCfi) {
            ++exact;
            CHECK(r.cfa_offset == static_cast<int32_t>(16 + 8 * f));
            // Small CFA offsets are in the step; larger ones leave it to the slow path.
            CHECK(cs->step == (r.cfa_offset < 8 * (1 << 14)
                                   ? (gcwalk::CallSite::kStepRsp | (r.cfa_offset / 8) << 2)
                                   : gcwalk::CallSite::kStepSlow));
        } else {
            ++fallback;
            CHECK(cs->rule == gcwalk::CallSite::kMaxRules - 1);
            CHECK(cs->step == gcwalk::CallSite::kStepSlow);
        }
        CHECK(index->roots(*cs).size() == 1); // the roots are there either way
    }
    CHECK(exact == gcwalk::CallSite::kMaxRules - 1);
    CHECK(fallback == kFunctions - exact);
}

TEST_CASE("plain frames have root offsets of 16 bits; a root further up is resolved instead",
          "[frame_index]") {
    // A plain frame's slots are read from FrameIndex::Hot::root_offsets, 16 bits a root: a root
    // at [RSP + off] with a larger off keeps its frame off the plain path, with its root intact.
    for (int32_t off : {16, 32760, 32768, 40000, 1 << 20}) {
        const uint64_t base = 0x6100'0000'0000;
        const std::vector<uint8_t> bytes = make_blob_at({base}, off);
        auto index = index_of("offsets", bytes);
        REQUIRE(index);
        const gcwalk::CallSite* cs = index->find(base + 8);
        REQUIRE(cs);
        REQUIRE(index->roots(*cs).size() == 1);
        CHECK(index->roots(*cs)[0].base.offset() == off);
        CHECK(cs->plain_roots() == (off <= INT16_MAX));
        if (cs->plain_roots()) CHECK(index->hot().root_offsets[cs->root_index()] == off);
    }
}

TEST_CASE("call sites whose home slots are the table's last ones are all found", "[frame_index]") {
    // Probes never wrap around: they run on past the home slots, and the table grows its tail
    // when a run of full slots reaches its end. Here every call site's home slot is among the
    // last six, so the run is as long as the table has sites.
    constexpr uint32_t kSites = 200;
    const uint64_t nslots = static_cast<uint64_t>(kSites / 0.7) + 1; // call_site_table.cpp
    const uint64_t base = 0x5000'0000'0000;
    std::vector<uint64_t> functions;
    for (uint64_t k = 0; functions.size() < kSites; ++k)
        if (gcwalk::FrameIndex::slot_of(base + 0x100 * k + 8, nslots) >= nslots - 6)
            functions.push_back(base + 0x100 * k);
    const std::vector<uint8_t> bytes = make_blob_at(functions);
    auto index = index_of("last-slots", bytes);
    REQUIRE(index);
    CHECK(index->num_call_sites() == kSites);
    for (uint64_t fn : functions) {
        const gcwalk::CallSite* cs = index->find(fn + 8);
        REQUIRE(cs);
        CHECK(cs->return_address() == fn + 8);
        CHECK(index->roots(*cs).size() == 1);
        CHECK(index->find(fn + 9) == nullptr);
        CHECK(index->find(fn + 7) == nullptr);
    }
    CHECK(index->call_sites().size() == kSites);
}
