// Tests of gcwalk-pack's ELF rewriting (rewrite_elf) on real linked files: the section it adds
// or replaces is what binutils reads back, the loaded part is unchanged (the programs still run),
// stripping removes exactly `.llvm_stackmaps` and its symbol, and bad inputs are refused by name.
#include "../shell_run.hpp"

#include "elf_rewrite.hpp"

#include <gcwalk/detail/format.hpp>

#include <gcwalk_fixtures.hpp>

#include <catch2/catch.hpp>

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fx = gcwalk::fixtures;
using gcwalk::pack::rewrite_elf;
using namespace gcwalk::test; // run, quote, slurp, tmp_path

namespace {

std::vector<uint8_t> read_bytes(const std::string& path) {
    const std::string s = slurp(path);
    REQUIRE(!s.empty());
    return {s.begin(), s.end()};
}

std::string write_bytes(const std::vector<uint8_t>& bytes, const std::string& name) {
    const std::string path = tmp_path(name);
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    REQUIRE(run("chmod +x " + quote(path)).status == 0);
    return path;
}

std::vector<uint8_t> payload(size_t n, uint8_t seed) {
    std::vector<uint8_t> p(n);
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 5));
    return p;
}

// readelf's line for section `name` ("" when there is none); readelf must print no warning.
std::string section_line(const std::string& path, const std::string& name) {
    Run r = run(std::string(GCWALK_READELF) + " -SW " + quote(path));
    REQUIRE(r.status == 0);
    CHECK(r.err.empty());
    std::istringstream in(r.out);
    std::string line, found;
    while (std::getline(in, line))
        if (line.find("] " + name + " ") != std::string::npos) {
            CHECK(found.empty()); // one section of that name
            found = line;
        }
    return found;
}

std::vector<uint8_t> dumped_section(const std::string& path, const std::string& name) {
    const std::string bin = tmp_path("dumped.bin");
    Run r = run(std::string(GCWALK_OBJCOPY) + " --dump-section " + name + "=" + quote(bin) + " " +
                quote(path) + " " + quote(tmp_path("dumped.elf")));
    REQUIRE(r.status == 0);
    const std::string s = slurp(bin);
    return {s.begin(), s.end()};
}

// Every symbol readelf lists, without its index column.
std::vector<std::string> symbols(const std::string& path) {
    Run r = run(std::string(GCWALK_READELF) + " -sW " + quote(path) +
                " | sed -n 's/^ *[0-9]*: //p' | sed 's/  */ /g'");
    REQUIRE(r.status == 0);
    std::vector<std::string> out;
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line)) out.push_back(line);
    return out;
}

uint16_t section_count(const std::vector<uint8_t>& elf) {
    Elf64_Ehdr eh;
    std::memcpy(&eh, elf.data(), sizeof eh);
    return eh.e_shnum;
}

struct Linked {
    const char* path;
    bool runs;      // an executable whose main returns 0
    bool allocated; // its .llvm_stackmaps is loaded
};
const Linked kLinked[] = {
    {GCWALK_PIE_NOALLOC_LLD, true, false}, {GCWALK_SO_NOALLOC_GNU, false, false},
    {GCWALK_PIE_NOTEXT_LLD, true, true},   {fx::kExecutable, true, true},
    {fx::kSharedObject, false, true},
};

} // namespace

TEST_CASE(
    "a non-allocated .gcwalk_frames is added, read back by binutils, and the file still runs") {
    for (const Linked& l : kLinked) {
        INFO(l.path);
        const auto in = read_bytes(l.path);
        const auto data = payload(3000, 1);
        auto out = rewrite_elf(in, l.path, {data, false});
        REQUIRE(out.has_value());
        CHECK(section_count(*out) == section_count(in) + 1);
        const std::string path = write_bytes(*out, "added");
        const std::string line = section_line(path, ".gcwalk_frames");
        // Type, address, offset, size, entry size, (no flags), link, info, alignment.
        CHECK_THAT(
            line, Catch::Matches(".*\\.gcwalk_frames +PROGBITS +0+ [0-9a-f]+ 000bb8 00 +0 +0 +1$"));
        CHECK(dumped_section(path, ".gcwalk_frames") == data);
        CHECK(dumped_section(path, ".llvm_stackmaps") == dumped_section(l.path, ".llvm_stackmaps"));
        CHECK(symbols(path) == symbols(l.path));
        // Nothing of what is loaded moved.
        Run segs_in = run(std::string(GCWALK_READELF) + " -lW " + quote(l.path) + " | tail -n +4");
        Run segs_out = run(std::string(GCWALK_READELF) + " -lW " + quote(path) + " | tail -n +4");
        CHECK(segs_in.out == segs_out.out);
        if (l.runs) CHECK(run(quote(path)).status == 0);
    }
}

TEST_CASE("an existing .gcwalk_frames is replaced, and the layout does not grow") {
    for (const Linked& l : kLinked) {
        INFO(l.path);
        const auto in = read_bytes(l.path);
        const auto a = payload(5000, 2), b = payload(700, 3);
        auto once = rewrite_elf(in, l.path, {a, false});
        REQUIRE(once.has_value());
        auto twice = rewrite_elf(*once, l.path, {b, false});
        REQUIRE(twice.has_value());
        auto direct = rewrite_elf(in, l.path, {b, false});
        REQUIRE(direct.has_value());
        CHECK(*twice == *direct);
        CHECK(section_count(*twice) == section_count(in) + 1);
        const std::string path = write_bytes(*twice, "replaced");
        CHECK(!section_line(path, ".gcwalk_frames").empty());
        CHECK(dumped_section(path, ".gcwalk_frames") == b);
    }
}

TEST_CASE("stripping removes a non-allocated .llvm_stackmaps and its symbols, nothing else") {
    for (const Linked& l : kLinked) {
        if (l.allocated) continue;
        INFO(l.path);
        const auto in = read_bytes(l.path);
        const auto data = payload(100, 4);
        auto kept = rewrite_elf(in, l.path, {data, false});
        auto out = rewrite_elf(in, l.path, {data, true});
        REQUIRE(kept.has_value());
        REQUIRE(out.has_value());
        CHECK(section_count(*out) == section_count(in));
        const std::string path = write_bytes(*out, "stripped");
        CHECK(section_line(path, ".llvm_stackmaps").empty());
        CHECK(dumped_section(path, ".gcwalk_frames") == data);
        const auto stackmaps = dumped_section(l.path, ".llvm_stackmaps");
        CHECK(out->size() + stackmaps.size() <= kept->size());
        // The symbol table loses the __LLVM_StackMaps symbols, nothing else; readelf reads it
        // without a warning. (One __LLVM_StackMaps per object linked.)
        auto before = symbols(l.path), after = symbols(path);
        const size_t all_symbols = before.size();
        std::erase_if(before, [](const std::string& s) {
            return s.find("__LLVM_StackMaps") != std::string::npos;
        });
        CHECK(before.size() + 5 == all_symbols);
        CHECK(after == before);
        Run all = run(std::string(GCWALK_READELF) + " -aW " + quote(path));
        CHECK(all.status == 0);
        CHECK(all.err.empty());
        if (l.runs) CHECK(run(quote(path)).status == 0);
        // Stripping a stripped file: nothing to strip.
        auto again = rewrite_elf(*out, "stripped", {data, true});
        REQUIRE(!again.has_value());
        CHECK(again.error().message == "stripped: no .llvm_stackmaps to strip");
    }
}

TEST_CASE("stripping a link with --emit-relocs drops .rela.llvm_stackmaps, keeps symbol indexes") {
    const std::string in_path = GCWALK_PIE_EMIT_RELOCS_GNU;
    REQUIRE(!section_line(in_path, ".rela.llvm_stackmaps").empty());
    const auto in = read_bytes(in_path);
    auto out = rewrite_elf(in, in_path, {payload(64, 5), true});
    REQUIRE(out.has_value());
    CHECK(section_count(*out) == section_count(in) - 1); // two removed, one added
    const std::string path = write_bytes(*out, "emit_relocs");
    CHECK(section_line(path, ".llvm_stackmaps").empty());
    CHECK(section_line(path, ".rela.llvm_stackmaps").empty());
    // Every symbol where it was (the relocations that stay index them); __LLVM_StackMaps and the
    // section's own symbol now absolute.
    auto before = symbols(in_path), after = symbols(path);
    REQUIRE(before.size() == after.size());
    size_t absolute = 0;
    for (size_t i = 0; i < before.size(); ++i) {
        if (before[i].find("__LLVM_StackMaps") != std::string::npos) {
            CHECK(after[i].find(" ABS __LLVM_StackMaps") != std::string::npos);
            ++absolute;
        } else if (before[i].find("SECTION LOCAL DEFAULT") != std::string::npos &&
                   before[i].find(" .llvm_stackmaps") != std::string::npos) {
            CHECK(after[i] == "0000000000000000 0 SECTION LOCAL DEFAULT ABS ");
        } else {
            CHECK(after[i] == before[i]);
        }
    }
    CHECK(absolute == 5);
    Run all = run(std::string(GCWALK_READELF) + " -aW " + quote(path));
    CHECK(all.status == 0);
    CHECK(all.err.empty());
    CHECK(run(quote(path)).status == 0);
}

TEST_CASE("an allocated .llvm_stackmaps is not stripped") {
    for (const Linked& l : kLinked) {
        if (!l.allocated) continue;
        auto out = rewrite_elf(read_bytes(l.path), "a.out", {{}, true});
        REQUIRE(!out.has_value());
        CHECK(out.error().message ==
              "a.out: .llvm_stackmaps is allocated (SHF_ALLOC): it lies inside a loaded segment "
              "and cannot be removed. Relink with the managed objects' section made "
              "non-allocated (gcwalk_unallocated_stackmaps(), docs/INTEGRATION.md)");
    }
}

TEST_CASE("what is not a linked x86-64 ELF file is refused by name") {
    const auto exe = read_bytes(GCWALK_PIE_NOALLOC_LLD);
    auto message = [](const std::vector<uint8_t>& bytes) {
        auto out = rewrite_elf(bytes, "f", {});
        REQUIRE(!out.has_value());
        return out.error().message;
    };
    CHECK(message({'h', 'e', 'l', 'l', 'o'}) == "f: not an ELF file");
    CHECK(message(read_bytes(fx::kStatepointDeopt)) ==
          "f: a relocatable object (.o): gcwalk-pack rewrites linked executables and shared "
          "objects");
    auto edited = exe;
    edited[EI_CLASS] = ELFCLASS32;
    CHECK(message(edited) == "f: not a 64-bit little-endian ELF file");
    // The section header table cut off.
    Elf64_Ehdr eh;
    std::memcpy(&eh, exe.data(), sizeof eh);
    std::vector<uint8_t> cut(exe.begin(), exe.begin() + static_cast<long>(eh.e_shoff + 64));
    CHECK(message(cut) == "f: the section header table at offset " + gcwalk::hex(eh.e_shoff) +
                              " (" + std::to_string(eh.e_shnum) +
                              " entries) lies outside the file (" + std::to_string(cut.size()) +
                              " bytes)");
    // A section past the end of the file.
    edited = exe;
    Elf64_Shdr sh;
    const uint64_t at = eh.e_shoff + 1 * sizeof sh;
    std::memcpy(&sh, edited.data() + at, sizeof sh);
    sh.sh_offset = edited.size();
    sh.sh_size = 16;
    sh.sh_type = SHT_PROGBITS;
    std::memcpy(edited.data() + at, &sh, sizeof sh);
    CHECK(message(edited) == "f: section 1 at offset " + gcwalk::hex(edited.size()) +
                                 " (16 bytes) lies outside the file (" +
                                 std::to_string(edited.size()) + " bytes)");
}
