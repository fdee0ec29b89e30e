// Tests of gcwalk-pack on linked files with stack maps in each place a linker leaves them: the
// table it writes is what pack_frame_table makes of the file, and indexes to the same functions,
// call sites, rules and roots as the file's `.llvm_stackmaps`; in place and -o, modes, stripping,
// refusals, and the chunking.
#include "../shell_run.hpp"

#include "pack_file.hpp"

#include <gcwalk/detail/format.hpp>
#include <gcwalk/frame_chunks.hpp>
#include <gcwalk/frame_index.hpp>
#include <gcwalk/frame_table.hpp>
#include <gcwalk/object_file.hpp>

#include <gcwalk_fixtures.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace gcwalk;
namespace fx = gcwalk::fixtures;
using namespace gcwalk::test; // run, quote, slurp, tmp_path

namespace {

Run pack_tool(const std::string& args) {
    return run(std::string(GCWALK_PACK_EXE) + " " + args);
}

std::string copy_of(const std::string& path, const std::string& name) {
    const std::string to = tmp_path(name);
    std::filesystem::copy_file(path, to, std::filesystem::copy_options::overwrite_existing);
    return to;
}

bool has_section(const std::string& path, const std::string& name) {
    Run r = run(std::string(GCWALK_READELF) + " -SW " + quote(path));
    REQUIRE(r.status == 0);
    return r.out.find("] " + name + " ") != std::string::npos;
}

FrameTable table_of(const std::string& path) {
    auto f = read_stackmaps_from_file(path);
    REQUIRE(f.has_value());
    REQUIRE(f->has_frame_table);
    auto payload = read_frame_chunks(f->frame_table_bytes, path);
    REQUIRE(payload.has_value());
    auto table = parse_frame_table(*payload, path);
    REQUIRE(table.has_value());
    return std::move(*table);
}

std::string rule_text(const FrameRule& r) {
    std::string s = format("CFA R#%u%+d flags %u saved", r.cfa_reg, r.cfa_offset, r.flags);
    for (int16_t off : r.saved) s += " " + std::to_string(off);
    return s;
}

// Every frame and call site of `a` in `b` alike: range, stack size, flags, records, and each
// call site's rule and roots.
void check_same_index(const FrameIndex& a, const FrameIndex& b) {
    REQUIRE(a.frames().size() == b.frames().size());
    for (size_t i = 0; i < a.frames().size(); ++i) {
        const FrameRecord &x = a.frames()[i], &y = b.frames()[i];
        INFO("function " << hex(x.function_address));
        CHECK(x.function_address == y.function_address);
        CHECK(x.function_size == y.function_size);
        CHECK(x.stack_size == y.stack_size);
        CHECK(x.flags == y.flags);
        REQUIRE(x.num_records == y.num_records);
        const StackMapBlob& bx = a.blob(RecordRef{x.image, x.blob});
        const StackMapBlob& by = b.blob(RecordRef{y.image, y.blob});
        for (uint32_t r = 0; r < x.num_records; ++r) {
            const RecordView rx = bx.record(x.first_record + r), ry = by.record(y.first_record + r);
            CHECK(rx.id() == ry.id());
            REQUIRE(rx.instruction_offset() == ry.instruction_offset());
            const uint64_t ra = x.function_address + rx.instruction_offset();
            const CallSite *cx = a.find(ra), *cy = b.find(ra);
            REQUIRE((cx != nullptr) == (cy != nullptr));
            if (!cx) continue;
            CHECK(rule_text(a.rule(*cx)) == rule_text(b.rule(*cy)));
            const auto rx_roots = a.roots(*cx), ry_roots = b.roots(*cy);
            REQUIRE(rx_roots.size() == ry_roots.size());
            for (size_t k = 0; k < rx_roots.size(); ++k) {
                CHECK(rx_roots[k].base.bits == ry_roots[k].base.bits);
                CHECK(rx_roots[k].derived.bits == ry_roots[k].derived.bits);
            }
        }
    }
}

struct Linked {
    const char* path;
    const char* where; // where the linker left the function addresses
    bool allocated;
};
const Linked kLinked[] = {
    {GCWALK_PIE_NOALLOC_LLD, "non-allocated, resolved by lld", false},
    {GCWALK_SO_NOALLOC_GNU, "non-allocated, resolved by GNU ld", false},
    {GCWALK_PIE_NOTEXT_LLD, "allocated, stored in place by lld -z notext", true},
    {fx::kExecutable, "allocated, in GNU ld's dynamic relocations (PIE)", true},
    {fx::kSharedObject, "allocated, in GNU ld's dynamic relocations (.so)", true},
};

uint64_t read64(const std::vector<uint8_t>& b, uint64_t off) {
    uint64_t v;
    std::memcpy(&v, b.data() + off, 8);
    return v;
}

} // namespace

TEST_CASE("the packed table is the file's stack maps, rules and roots wherever the addresses are") {
    for (const Linked& l : kLinked) {
        INFO(l.path << ": " << l.where);
        auto in = read_stackmaps_from_file(l.path);
        REQUIRE(in.has_value());
        REQUIRE(in->has_section);
        CHECK(in->section_allocated == l.allocated);
        const std::string out = tmp_path("packed");
        Run r = pack_tool("-o " + quote(out) + " " + quote(l.path));
        REQUIRE(r.status == 0);
        CHECK(r.err.empty());
        CHECK_THAT(r.out, Catch::Matches("gcwalk-pack: " + out +
                                         ": [1-9][0-9]* call sites, [1-9][0-9]* functions; "
                                         "\\.llvm_stackmaps \\(v3\\) [1-9][0-9]* bytes, table "
                                         "[1-9][0-9]* bytes, \\.gcwalk_frames [1-9][0-9]* bytes "
                                         "\\(2 chunks\\)\n"));
        const FrameTable table = table_of(out);
        auto expected = pack_frame_table(in->to_image(0), in->identity);
        REQUIRE(expected.has_value());
        CHECK(table == *expected);
        CHECK(table.identity == in->identity);
        CHECK(!table.identity.build_id.empty());
        CHECK(!table.identity.code.empty());

        // Every function of the table at its symbol's address (never 0: the dynamic relocations
        // were applied where the section holds 0).
        for (const PackedFunction& fn : table.functions) {
            CHECK(fn.address != 0);
            const bool named = std::any_of(in->functions.begin(), in->functions.end(),
                                           [&](const auto& s) { return s.address == fn.address; });
            CHECK(named);
        }
        if (std::string(l.path) == fx::kSharedObject) CHECK(read64(in->bytes, 16) == 0);

        // The index built from the table is the index built from the section.
        ImageStackMaps packed;
        packed.name = out;
        packed.table = std::make_shared<const FrameTable>(table);
        std::vector<ImageStackMaps> a, b;
        a.push_back(in->to_image(0));
        b.push_back(std::move(packed));
        auto from_section = FrameIndex::build(std::move(a));
        auto from_table = FrameIndex::build(std::move(b));
        REQUIRE(from_section.has_value());
        REQUIRE(from_table.has_value());
        check_same_index(*from_section, *from_table);
        CHECK(from_table->frames().size() == table.functions.size());

        // As the registry reads it: the cold tables (second chunk) left compressed until the
        // records are asked for, then the same index.
        auto f = read_stackmaps_from_file(out);
        REQUIRE(f.has_value());
        auto lazy = read_frame_table_section(f->frame_table_bytes, out, true);
        REQUIRE(lazy.has_value());
        CHECK(lazy->deferred != nullptr);
        CHECK(lazy->records.empty());
        ImageStackMaps deferred;
        deferred.name = out;
        deferred.table = std::make_shared<const FrameTable>(std::move(*lazy));
        std::vector<ImageStackMaps> c;
        c.push_back(std::move(deferred));
        auto from_deferred = FrameIndex::build(std::move(c));
        REQUIRE(from_deferred.has_value());
        check_same_index(*from_section, *from_deferred);
        CHECK(from_deferred->record_error(0).empty());
    }
}

TEST_CASE("in place: the file is replaced with its mode, --strip-stackmaps, --quiet") {
    for (const Linked& l : kLinked) {
        if (l.allocated) continue;
        INFO(l.path);
        const std::string file = copy_of(l.path, "inplace");
        REQUIRE(::chmod(file.c_str(), 0751) == 0);
        Run r = pack_tool("--strip-stackmaps --quiet " + quote(file));
        REQUIRE(r.status == 0);
        CHECK(r.out.empty());
        CHECK(r.err.empty());
        struct stat st {};
        REQUIRE(::stat(file.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0751);
        CHECK_FALSE(has_section(file, ".llvm_stackmaps"));
        CHECK(has_section(file, ".gcwalk_frames"));
        auto back = read_stackmaps_from_file(file);
        REQUIRE(back.has_value());
        CHECK_FALSE(back->has_section);
        // No temporary file is left beside it.
        for (const auto& e : std::filesystem::directory_iterator(tmp_path("")))
            CHECK(e.path().filename().string().find(".gcwalk-pack.") == std::string::npos);
        if (std::string(l.path) == GCWALK_PIE_NOALLOC_LLD) CHECK(run(quote(file)).status == 0);

        // A stripped file has nothing left to pack.
        Run again = pack_tool(quote(file));
        CHECK(again.status == 1);
        CHECK(again.err == "gcwalk-pack: " + file +
                               ": no .llvm_stackmaps to pack: the file has a .gcwalk_frames "
                               "already, packed with --strip-stackmaps\n");
    }
}

TEST_CASE("in place through a symbolic link: the file it names is packed, the link stays") {
    const std::string target = copy_of(GCWALK_SO_NOALLOC_GNU, "target.so");
    const std::string link = tmp_path("link.so");
    std::filesystem::remove(link);
    std::filesystem::create_symlink(target, link);
    REQUIRE(pack_tool("--quiet " + quote(link)).status == 0);
    CHECK(std::filesystem::is_symlink(link));
    CHECK(has_section(target, ".gcwalk_frames"));
}

TEST_CASE("packing a packed file replaces its table: the same bytes as packing it once") {
    const std::string once = tmp_path("once"), twice = tmp_path("twice");
    REQUIRE(pack_tool("--quiet -o " + quote(once) + " " + quote(fx::kExecutable)).status == 0);
    REQUIRE(pack_tool("--quiet -o " + quote(twice) + " " + quote(once)).status == 0);
    CHECK(slurp(once) == slurp(twice));
    Run sections = run(std::string(GCWALK_READELF) + " -SW " + quote(twice) +
                       " | grep -c '\\] \\.gcwalk_frames '");
    CHECK(sections.out == "1\n");
}

TEST_CASE("refusals name the file and what is wrong, and leave it as it was") {
    const std::string file = copy_of(GCWALK_PIE_NOTEXT_LLD, "allocated");
    const std::string before = slurp(file);
    Run r = pack_tool("--strip-stackmaps " + quote(file));
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    CHECK(r.err == "gcwalk-pack: " + file +
                       ": --strip-stackmaps: .llvm_stackmaps is allocated (SHF_ALLOC), inside a "
                       "loaded segment, and cannot be removed; relink with the managed objects' "
                       ".llvm_stackmaps made non-allocated (gcwalk_unallocated_stackmaps(), "
                       "docs/INTEGRATION.md), or pack without --strip-stackmaps\n");
    CHECK(slurp(file) == before);

    Run o = pack_tool(quote(fx::kStatepointDeopt));
    CHECK(o.status == 1);
    CHECK(o.err == std::string("gcwalk-pack: ") + fx::kStatepointDeopt +
                       ": a relocatable object (.o): gcwalk-pack packs linked executables and "
                       "shared objects\n");
    Run missing = pack_tool("/nonexistent/a.out");
    CHECK(missing.status == 1);
    CHECK_THAT(missing.err, Catch::StartsWith("gcwalk-pack: /nonexistent/a.out: cannot read: "));
    const std::string text = tmp_path("text");
    std::ofstream(text) << "not an ELF file\n";
    Run not_elf = pack_tool(quote(text));
    CHECK(not_elf.status == 1);
    CHECK_THAT(not_elf.err, Catch::StartsWith("gcwalk-pack: " + text + ": not an object file"));

    // Records of functions that lld's --gc-sections discarded.
    Run gc = pack_tool(quote(GCWALK_PIE_GC_SECTIONS_LLD));
    CHECK(gc.status == 1);
    CHECK_THAT(gc.err, Catch::Matches("gcwalk-pack: " + std::string(GCWALK_PIE_GC_SECTIONS_LLD) +
                                      ": blob [0-9]+ function [0-9]+: address 0x[0-9a-f]+ of "
                                      "\\.llvm_stackmaps lies outside every code section: "
                                      "the linker discarded the function "
                                      "\\(--gc-sections\\?\\) and left its record behind; "
                                      "link without --gc-sections \\(docs/INTEGRATION\\.md\\)\n"));

    // No .eh_frame_hdr: the rules the table must hold cannot be computed.
    Run no_hdr = pack_tool(quote(GCWALK_PIE_NO_EH_FRAME_HDR));
    CHECK(no_hdr.status == 1);
    CHECK(no_hdr.err == std::string("gcwalk-pack: ") + GCWALK_PIE_NO_EH_FRAME_HDR +
                            ": no frame rules for the table: " + GCWALK_PIE_NO_EH_FRAME_HDR +
                            ": no PT_GNU_EH_FRAME segment: frames are stepped by libunwind\n");

    CHECK(pack_tool("").status == 2);
    CHECK(pack_tool("--bogus a").status == 2);
    CHECK(pack_tool("a b").status == 2);
    CHECK(pack_tool("-o").status == 2);
    Run help = pack_tool("--help");
    CHECK(help.status == 0);
    CHECK_THAT(help.out, Catch::StartsWith("usage: gcwalk-pack"));
}

// The original sizes of a section's chunks (each chunk's first ULEB128).
static std::vector<uint64_t> chunk_sizes(const std::vector<uint8_t>& section) {
    std::vector<uint64_t> sizes;
    for (uint64_t at = 0; at < section.size();) {
        uint64_t v[2] = {0, 0};
        for (uint64_t& field : v)
            for (unsigned shift = 0;; shift += 7) {
                const uint8_t b = section.at(at++);
                field |= uint64_t{b & 0x7fu} << shift;
                if (!(b & 0x80)) break;
            }
        sizes.push_back(v[0]);
        at += v[1];
    }
    return sizes;
}

TEST_CASE("chunks hold at most 1 MiB of payload each and inflate back to it") {
    std::vector<uint8_t> payload(2'621'440 + 17);
    uint64_t x = 88172645463325252ull;
    for (auto& b : payload) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b = static_cast<uint8_t>(x % 7); // compressible, not trivially
    }
    // A cut (0: none) also ends a chunk; the chunks after it are full again.
    auto sizes = [&](uint64_t cut) {
        uint64_t count = 0;
        auto section = pack::compress_frame_chunks(payload, pack::kChunkPayload, cut, &count);
        REQUIRE(section.has_value());
        CHECK(section->size() < payload.size());
        auto back = read_frame_chunks(*section, "chunks");
        REQUIRE(back.has_value());
        CHECK(*back == payload);
        const auto s = chunk_sizes(*section);
        CHECK(s.size() == count);
        return s;
    };
    const uint64_t n = payload.size();
    // Three chunks: 1 MiB, 1 MiB, the rest.
    CHECK(sizes(0) == std::vector<uint64_t>{1u << 20, 1u << 20, n - (2u << 20)});
    CHECK(sizes(1000) == std::vector<uint64_t>{1000, 1u << 20, 1u << 20, n - 1000 - (2u << 20)});
    CHECK(sizes(1u << 20) == sizes(0)); // at a chunk's end: nothing changes
    CHECK(sizes(n) == sizes(0));        // at the end: neither
    auto empty = pack::compress_frame_chunks({});
    REQUIRE(empty.has_value());
    CHECK(empty->empty());
}
