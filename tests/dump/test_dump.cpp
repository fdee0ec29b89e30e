// Tests of gcwalk-dump: every blob of every fixture file prints exactly as llvm-readobj-14 prints
// an object holding only that blob; malformed sections fail with one exact line; the JSON is
// valid and renders back to the text view; the other views agree with the raw one.
#include "../shell_run.hpp"

#include <gcwalk/detail/format.hpp>
#include <gcwalk/object_file.hpp>

#include <gcwalk_fixtures.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

namespace fx = gcwalk::fixtures;
using namespace gcwalk::test; // run, quote, slurp, tmp_path
namespace fs = std::filesystem;

namespace {

Run dump(const std::string& args) {
    return run(std::string(GCWALK_DUMP_EXE) + " " + args);
}

// llvm-readobj's output after its six per-file lines (empty, File, Format, Arch, AddressSize,
// LoadName): the stack map text alone.
std::string readobj_stackmap_text(const std::string& readobj_output) {
    size_t pos = 0;
    for (int i = 0; i < 6; ++i) {
        pos = readobj_output.find('\n', pos);
        REQUIRE(pos != std::string::npos);
        ++pos;
    }
    return readobj_output.substr(pos);
}

struct BlobText {
    uint64_t offset = 0, size = 0;
    std::string text; // the lines after the "Blob #k" line
};

// Splits gcwalk-dump's llvm-format raw view of one file into its blobs.
std::vector<BlobText> split_blobs(const std::string& out) {
    std::vector<BlobText> blobs;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        unsigned long long index, offset, size;
        if (std::sscanf(line.c_str(), "Blob #%llu: section offset: %llx, size: %llu", &index,
                        &offset, &size) == 3) {
            CHECK(index == blobs.size());
            blobs.push_back({offset, size, {}});
        } else if (!blobs.empty()) {
            blobs.back().text += line + "\n";
        }
    }
    return blobs;
}

// The text llvm-readobj-14 prints for an object whose .llvm_stackmaps holds exactly `bytes`:
// a copy of a fixture .o with the section replaced (llvm-objcopy --update-section).
std::string readobj_of_blob(const std::vector<uint8_t>& bytes, const std::string& tag) {
    const std::string bin = tmp_path(tag + ".bin"), obj = tmp_path(tag + ".o");
    std::ofstream(bin, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    Run cp = run(std::string(fx::kLlvmObjcopy) +
                 " --remove-section=.rela.llvm_stackmaps --update-section=.llvm_stackmaps=" +
                 quote(bin) + " " + quote(fx::kStackmapOperands) + " " + quote(obj));
    REQUIRE(cp.status == 0);
    Run ro = run(std::string(fx::kLlvmReadobj) + " --stackmap " + quote(obj));
    REQUIRE(ro.status == 0);
    CHECK(ro.err.empty());
    return readobj_stackmap_text(ro.out);
}

// Writes a copy of `path` whose .llvm_stackmaps holds `bytes`.
std::string with_section(const std::string& path, const std::vector<uint8_t>& bytes,
                         const std::string& tag) {
    const std::string bin = tmp_path(tag + ".bin"), out = tmp_path(tag);
    std::ofstream(bin, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    Run cp = run(std::string(fx::kLlvmObjcopy) +
                 " --remove-section=.rela.llvm_stackmaps --update-section=.llvm_stackmaps=" +
                 quote(bin) + " " + quote(path) + " " + quote(out));
    REQUIRE(cp.status == 0);
    return out;
}

std::vector<uint8_t> section_of(const std::string& path) {
    auto f = gcwalk::read_stackmaps_from_file(path);
    REQUIRE(f.has_value());
    return f->bytes;
}

} // namespace

TEST_CASE("llvm format: every blob equals llvm-readobj --stackmap of that blob alone") {
    for (const fx::File& file : fx::kFiles) {
        INFO(file.path);
        Run r = dump(std::string("--format=llvm ") + quote(file.path));
        REQUIRE(r.status == 0);
        CHECK(r.err.empty());
        CHECK(r.out.rfind(std::string("\nFile: ") + file.path + "\nSection: .llvm_stackmaps, ",
                          0) == 0);

        const std::vector<uint8_t> section = section_of(file.path);
        const std::vector<BlobText> blobs = split_blobs(r.out);
        REQUIRE(!blobs.empty());
        // The blobs tile the section, back to back.
        uint64_t next = 0;
        for (const BlobText& b : blobs) {
            CHECK(b.offset == next);
            next = b.offset + b.size;
        }
        REQUIRE(next == section.size());

        // Blob 0 also equals llvm-readobj's output for the file itself (it prints the first blob).
        CHECK(blobs[0].text == readobj_stackmap_text(slurp(file.readobj_txt)));
        for (size_t k = 0; k < blobs.size(); ++k) {
            INFO("blob " << k);
            const std::vector<uint8_t> bytes(
                section.begin() + static_cast<long>(blobs[k].offset),
                section.begin() + static_cast<long>(blobs[k].offset + blobs[k].size));
            CHECK(blobs[k].text == readobj_of_blob(bytes, "blob"));
        }
        if (file.kind == fx::FileKind::Executable)
            CHECK(blobs.size() == std::size(fx::kExecutableInputs));
        if (file.kind == fx::FileKind::SharedObject)
            CHECK(blobs.size() == std::size(fx::kSharedObjectInputs));
    }
}

TEST_CASE("the blobs of a shared object are its input objects' blobs") {
    // Blob k of the shared object has the text of input object k, function addresses included:
    // GNU ld leaves them 0 in a .so for the loader to fill, as they are in the .o.
    Run so = dump(quote(fx::kSharedObject));
    REQUIRE(so.status == 0);
    const auto blobs = split_blobs(so.out);
    REQUIRE(blobs.size() == std::size(fx::kSharedObjectInputs));
    for (size_t k = 0; k < blobs.size(); ++k) {
        INFO(fx::kSharedObjectInputs[k]);
        Run obj = dump(quote(fx::kSharedObjectInputs[k]));
        REQUIRE(obj.status == 0);
        const auto obj_blobs = split_blobs(obj.out);
        REQUIRE(obj_blobs.size() == 1);
        CHECK(blobs[k].text == obj_blobs[0].text);
    }
}

TEST_CASE("several files print in order each with its File line") {
    Run both = dump(quote(fx::kStatepointDeopt) + " " + quote(fx::kStatepointCsr));
    Run a = dump(quote(fx::kStatepointDeopt));
    Run b = dump(quote(fx::kStatepointCsr));
    REQUIRE(both.status == 0);
    CHECK(both.out == a.out + b.out);
}

TEST_CASE("a file without the section prints Section: none") {
    Run r = dump(quote(GCWALK_NO_SECTION_FIXTURE));
    CHECK(r.status == 0);
    CHECK(r.out == std::string("\nFile: ") + GCWALK_NO_SECTION_FIXTURE + "\nSection: none\n");
}

TEST_CASE("a SHF_COMPRESSED section prints as the uncompressed one") {
    Run plain = dump(quote(fx::kStatepointDeopt));
    Run comp = dump(quote(GCWALK_COMPRESSED_FIXTURE));
    REQUIRE(comp.status == 0);
    const auto pb = split_blobs(plain.out), cb = split_blobs(comp.out);
    REQUIRE(cb.size() == 1);
    CHECK(cb[0].text == pb[0].text);
    CHECK(comp.out.find("(compressed: ") != std::string::npos);
}

TEST_CASE("a malformed section: exit 1 and one line naming the file and the blob and the offset") {
    SECTION("truncated inside the first record of a .o") {
        std::vector<uint8_t> bytes = section_of(fx::kStatepointGcAlloca);
        // Header 16 + 1 function (24) + 1 constant (8) = 48: the record starts there; cut
        // after its 16-byte head and two of its nine 12-byte locations.
        bytes.resize(48 + 16 + 24);
        const std::string path = with_section(fx::kStatepointGcAlloca, bytes, "truncated.o");
        Run r = dump(quote(path));
        CHECK(r.status == 1);
        CHECK(r.out.empty());
        // Record 0 starts at 0x30, its locations at 0x40: location 2 at 0x40 + 2 * 12 = 0x58.
        CHECK(r.err ==
              "gcwalk-dump: " + path +
                  ": blob 0 at offset 0x0: unexpected end of data at offset 0x58 while reading "
                  "location 2 of record 0\n");
    }
    SECTION("the second blob of the executable cut short") {
        const std::vector<uint8_t> all = section_of(fx::kExecutable);
        Run whole = dump(quote(fx::kExecutable));
        const auto blobs = split_blobs(whole.out);
        REQUIRE(blobs.size() >= 2);
        // Keep blob 0 and the first 20 bytes of blob 1: its header, and 4 bytes of a function
        // entry.
        std::vector<uint8_t> bytes(all.begin(),
                                   all.begin() + static_cast<long>(blobs[1].offset + 20));
        const std::string path = with_section(fx::kExecutable, bytes, "truncated_exe");
        Run r = dump(quote(path));
        CHECK(r.status == 1);
        // Blob 0 (stackmap_operands.o) is 0x228 bytes; blob 1
        // (patchpoint_anyreg.o) has 2 functions: 48 bytes of entries after its 16-byte header.
        REQUIRE(blobs[1].offset == 0x228);
        CHECK(r.err ==
              "gcwalk-dump: " + path +
                  ": blob 1 at offset 0x228: function count 2 at offset 0x22c needs 48 bytes but "
                  "only 4 remain\n");
    }
    SECTION("a good file before a bad one still prints, and the status is 1") {
        std::vector<uint8_t> bytes = section_of(fx::kStatepointGcAlloca);
        bytes[0] = 2; // version 2
        const std::string path = with_section(fx::kStatepointGcAlloca, bytes, "version2.o");
        Run good = dump(quote(fx::kStatepointDeopt));
        Run r = dump(quote(fx::kStatepointDeopt) + " " + quote(path));
        CHECK(r.status == 1);
        CHECK(r.out == good.out);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        CHECK(r.err.rfind("gcwalk-dump: " + path + ": blob 0 at offset 0x0: ", 0) == 0);
    }
    SECTION("not an ELF file") {
        Run r = dump(quote(fx::kFiles[0].readobj_txt));
        CHECK(r.status == 1);
        CHECK(r.err.rfind(std::string("gcwalk-dump: ") + fx::kFiles[0].readobj_txt +
                              ": not an object file",
                          0) == 0);
    }
}

TEST_CASE("json format is valid JSON and carries the values of the text view") {
    std::string files;
    for (const fx::File& file : fx::kFiles) files += " " + quote(file.path);
    files += " " + quote(GCWALK_COMPRESSED_FIXTURE) + " " + quote(GCWALK_NO_SECTION_FIXTURE);
    Run json = dump("--format=json" + files);
    REQUIRE(json.status == 0);
    const std::string json_path = tmp_path("all.json");
    std::ofstream(json_path) << json.out;
    Run valid = run(std::string(GCWALK_PYTHON) + " -m json.tool " + quote(json_path));
    CHECK(valid.status == 0);
    CHECK(valid.err.empty());
    // json_to_llvm.py renders the JSON alone as the text view: equal text means equal values.
    Run rendered = run(std::string(GCWALK_PYTHON) + " " + quote(GCWALK_JSON_TO_LLVM) + " < " +
                       quote(json_path));
    REQUIRE(rendered.status == 0);
    Run text = dump("--format=llvm" + files);
    REQUIRE(text.status == 0);
    CHECK(rendered.out == text.out);
}

TEST_CASE("the frames, statepoints and table views print valid JSON for every fixture") {
    for (const char* view : {"frames", "statepoints", "table"}) {
        INFO(view);
        std::string files;
        for (const fx::File& file : fx::kFiles) files += " " + quote(file.path);
        files += " " + quote(GCWALK_PACKED_EXE) + " " + quote(GCWALK_PACKED_SO);
        Run json = dump(std::string("--format=json --view=") + view + files);
        REQUIRE(json.status == 0);
        CHECK(json.err.empty());
        const std::string json_path = tmp_path(std::string(view) + ".json");
        std::ofstream(json_path) << json.out;
        Run valid = run(std::string(GCWALK_PYTHON) + " -m json.tool " + quote(json_path));
        CHECK(valid.status == 0);
        Run text = dump(std::string("--format=llvm --view=") + view + files);
        CHECK(text.status == 0);
        CHECK(text.err.empty());
        CHECK(!text.out.empty());
    }
}

TEST_CASE("the frames view shows why the runtime refuses a call site's CFI") {
    // tests/ir/cfi_refused.ll: ten call sites in five functions refused, cr_plain and cr_cfa_rbx
    // not.
    Run text = dump("--view=frames " + quote(GCWALK_CFI_REFUSED_SO));
    REQUIRE(text.status == 0);
    CHECK(text.err.empty());
    const std::string refused = "(cfi refused: " + std::string(GCWALK_CFI_REFUSED_SO) + ": FDE at ";
    size_t n = 0;
    for (size_t at = text.out.find(refused); at != std::string::npos;
         at = text.out.find(refused, at + 1))
        ++n;
    CHECK(n == 10);
    CHECK(text.out.find("callee-saved register 3 is undefined), roots: ") != std::string::npos);
    CHECK(text.out.find("CFA: R#3 + 16 (cfi)") != std::string::npos); // cr_cfa_rbx: accepted
    Run json = dump("--format=json --view=frames " + quote(GCWALK_CFI_REFUSED_SO));
    REQUIRE(json.status == 0);
    CHECK(json.out.find("\"cfi_refused\":\"" + std::string(GCWALK_CFI_REFUSED_SO) + ": FDE at ") !=
          std::string::npos);
}

TEST_CASE("bad usage exits 2") {
    CHECK(dump("").status == 2);
    CHECK(dump("--format=xml x").status == 2);
    CHECK(dump("--view=everything x").status == 2);
}

TEST_CASE("corrupt sections never crash gcwalk-dump in any view or format") {
    // Random bytes inside the section of the executable: every run ends with status 0 or 1,
    // and a status-0 JSON run prints valid JSON.
    const std::vector<uint8_t> original = section_of(fx::kExecutable);
    uint64_t seed = 0xD1B54A32D192ED03ull;
    auto next = [&seed]() {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        return seed;
    };
    int failures = 0, successes = 0;
    for (int i = 0; i < 6; ++i) {
        std::vector<uint8_t> bytes = original;
        for (int k = 0; k < 3; ++k) bytes[next() % bytes.size()] = static_cast<uint8_t>(next());
        const std::string path = with_section(fx::kExecutable, bytes, "mutant_exe");
        for (const char* view : {"raw", "frames", "statepoints"}) {
            for (const char* format : {"llvm", "json"}) {
                INFO(i << " " << view << " " << format);
                Run r =
                    dump(std::string("--view=") + view + " --format=" + format + " " + quote(path));
                REQUIRE((r.status == 0 || r.status == 1));
                (r.status == 0 ? successes : failures)++;
                if (r.status == 1) CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
                if (r.status == 0 && std::string(format) == "json") {
                    const std::string json_path = tmp_path("mutant.json");
                    std::ofstream(json_path) << r.out;
                    CHECK(run(std::string(GCWALK_PYTHON) + " -m json.tool " + quote(json_path))
                              .status == 0);
                }
            }
        }
    }
    CHECK(failures > 0);
    CHECK(successes > 0);
}

namespace {

// `out` without the per-blob numbering that differs between a table (one blob) and a section
// (one blob per object): "blob: B, function: F" and "record #R".
std::string without_blob_numbers(const std::string& out) {
    std::string s = std::regex_replace(out, std::regex("blob: [0-9]+, function: [0-9]+"), "");
    return std::regex_replace(s, std::regex("record #[0-9]+"), "record");
}

} // namespace

TEST_CASE("the table view lists the chunks, the identity, the counts and every record") {
    for (const char* file : {GCWALK_PACKED_EXE, GCWALK_PACKED_SO}) {
        INFO(file);
        auto f = gcwalk::read_stackmaps_from_file(file);
        REQUIRE(f.has_value());
        REQUIRE(f->has_frame_table);
        Run r = dump("--view=table " + quote(file));
        REQUIRE(r.status == 0);
        CHECK(r.err.empty());
        std::istringstream in(r.out);
        std::string line;
        std::vector<std::string> lines;
        while (std::getline(in, line)) lines.push_back(line);
        REQUIRE(lines.size() > 8);
        CHECK(lines[1] == std::string("File: ") + file);
        CHECK_THAT(lines[2], Catch::StartsWith("Section: .llvm_stackmaps, "));
        CHECK(lines[3] == "Frame table: .gcwalk_frames, file offset: " +
                              gcwalk::hex(f->frame_table_file_offset) +
                              ", size: " + std::to_string(f->frame_table_bytes.size()) +
                              ", chunks: 2, payload: " + lines[3].substr(lines[3].rfind(' ') + 1));
        // The hot tables, then the cold ones (from frame_table_cold_offset on).
        CHECK_THAT(lines[4], Catch::Matches("  Chunk #0: section offset: 0x0, original size: "
                                            "[1-9][0-9]*, compressed size: [1-9][0-9]*"));
        CHECK_THAT(lines[5], Catch::Matches("  Chunk #1: section offset: 0x[0-9a-f]+, original "
                                            "size: [1-9][0-9]*, compressed size: [1-9][0-9]*"));
        CHECK_THAT(lines[6], Catch::Matches("Identity: build ID: [0-9a-f]{40}, code ranges: "
                                            "[1-9][0-9]*, code hash: 0x[0-9a-f]+, matches the "
                                            "file: yes"));
        // Every call site of the frames view (from .llvm_stackmaps) with the same rule and roots.
        Run frames = dump("--view=frames --from=stackmaps " + quote(file));
        REQUIRE(frames.status == 0);
        size_t sites = 0;
        std::istringstream fin(frames.out);
        while (std::getline(fin, line)) {
            const size_t colon = line.find(": record #");
            if (line.rfind("    0x", 0) != 0 || colon == std::string::npos) continue;
            ++sites;
            const std::string ra = line.substr(4, colon - 4);
            const std::string rule_and_roots = line.substr(line.find(", CFA: ") + 2);
            const auto it = std::find_if(lines.begin(), lines.end(), [&](const std::string& l) {
                return l.rfind("    " + ra + ": ", 0) == 0;
            });
            REQUIRE(it != lines.end());
            CHECK(it->substr(it->find(" CFA: ") + 1) == rule_and_roots);
        }
        CHECK(sites > 20);
        CHECK(r.out.find("Counts: functions: ") != std::string::npos);
    }
}

TEST_CASE("the table view in JSON, and the frames view from the table or from the section") {
    Run json = dump("--format=json --view=table " + quote(GCWALK_PACKED_EXE) + " " +
                    quote(GCWALK_NO_SECTION_FIXTURE));
    REQUIRE(json.status == 0);
    const std::string path = tmp_path("table.json");
    std::ofstream(path) << json.out;
    Run counts =
        run(std::string(GCWALK_PYTHON) + " -c " +
            quote("import json,sys; d=json.load(open(sys.argv[1])); t=d[0]['frame_table']; "
                  "print(t['present'], t['identity']['matches_file'], "
                  "len(t['chunks']), t['counts']['functions'] == len(t['functions']), "
                  "t['counts']['records'] == sum(len(f['records']) for f in "
                  "t['functions']), d[1]['frame_table'])") +
            " " + quote(path));
    REQUIRE(counts.status == 0);
    CHECK(counts.out == "True True 2 True True {'present': False}\n");

    // The frames view takes the table when there is one, and says so; the same frames either way.
    Run from_table = dump("--view=frames " + quote(GCWALK_PACKED_EXE));
    Run from_section = dump("--view=frames --from=stackmaps " + quote(GCWALK_PACKED_EXE));
    REQUIRE(from_table.status == 0);
    REQUIRE(from_section.status == 0);
    CHECK(from_table.out.find("\nFrames from: .gcwalk_frames\n") != std::string::npos);
    CHECK(from_section.out.find("\nFrames from: .llvm_stackmaps\n") != std::string::npos);
    CHECK(without_blob_numbers(from_table.out) ==
          std::regex_replace(without_blob_numbers(from_section.out),
                             std::regex("Frames from: .llvm_stackmaps"),
                             "Frames from: .gcwalk_frames"));
    Run frames_json = dump("--format=json --view=frames " + quote(GCWALK_PACKED_EXE));
    REQUIRE(frames_json.status == 0);
    CHECK(frames_json.out.find("\"frames_from\":\"table\"") != std::string::npos);

    // The other views and the file without a table are as they were.
    Run raw_packed = dump(quote(GCWALK_PACKED_EXE)), raw = dump(quote(fx::kExecutable));
    CHECK(raw_packed.out.substr(raw_packed.out.find("\nSection: ")) ==
          raw.out.substr(raw.out.find("\nSection: ")));
    Run none = dump("--view=table " + quote(fx::kExecutable));
    REQUIRE(none.status == 0);
    CHECK_THAT(none.out, Catch::EndsWith("\nFrame table: none\n"));
    Run missing = dump("--view=frames --from=table " + quote(fx::kExecutable));
    CHECK(missing.status == 1);
    CHECK(missing.err ==
          std::string("gcwalk-dump: ") + fx::kExecutable + ": no .gcwalk_frames (--from=table)\n");
}

TEST_CASE("the table view tells a table packed for another file") {
    Run r = dump("--view=table " + quote(GCWALK_STALE_EXE));
    REQUIRE(r.status == 0);
    CHECK(r.out.find(", matches the file: no (the build IDs differ (the file's is ") !=
          std::string::npos);
}
