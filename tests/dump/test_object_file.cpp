// Tests of read_stackmaps_from_file on the IR fixtures: section location, relocations of a .o,
// function symbols, linked files, compressed sections and files with no section or no ELF.
#include "../readobj_text.hpp"

#include <gcwalk/detail/format.hpp>
#include <gcwalk/frame_index.hpp>
#include <gcwalk/object_file.hpp>
#include <gcwalk/stackmap.hpp>

#include <gcwalk_fixtures.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

using namespace gcwalk;
namespace fx = gcwalk::fixtures;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint64_t read64(const std::vector<uint8_t>& b, uint64_t off) {
    uint64_t v;
    std::memcpy(&v, b.data() + off, 8);
    return v;
}

const NamedFunctionRange* find_function(const ObjectStackMaps& f, const std::string& name) {
    for (const auto& fn : f.functions)
        if (fn.name == name) return &fn;
    return nullptr;
}

} // namespace

TEST_CASE("a .o: the section bytes as stored and one R_X86_64_64 per function entry") {
    auto f = read_stackmaps_from_file(fx::kStatepointDeopt);
    REQUIRE(f.has_value());
    CHECK(f->kind == ObjectKind::Relocatable);
    CHECK(f->relocatable);
    CHECK(f->has_section);
    CHECK_FALSE(f->was_compressed);
    CHECK(f->section_address == 0);
    CHECK(f->section_size_in_file == f->bytes.size());
    // The section's bytes at its file offset are the bytes returned.
    const std::string file = slurp(fx::kStatepointDeopt);
    REQUIRE(f->section_file_offset + f->bytes.size() <= file.size());
    CHECK(std::equal(f->bytes.begin(), f->bytes.end(),
                     reinterpret_cast<const uint8_t*>(file.data()) + f->section_file_offset));

    auto blobs = parse_stackmap_section(f->bytes, f->path);
    REQUIRE(blobs.has_value());
    REQUIRE(blobs->size() == 1);
    const StackMapBlob& blob = (*blobs)[0];
    // sp_simple, sp_deopt, sp_many, in source order; each entry's address is a relocation.
    REQUIRE(blob.num_functions() == 3);
    REQUIRE(f->relocations.size() == 3);
    const char* names[] = {"sp_simple", "sp_deopt", "sp_many"};
    for (uint32_t i = 0; i < 3; ++i) {
        const SectionRelocation& r = f->relocations[i];
        CHECK(r.offset == blob.function_entry_offset(i));
        CHECK(r.type == 1);
        CHECK(r.type_name == "R_X86_64_64");
        CHECK(r.symbol == names[i]);
        CHECK(r.addend == 0);
        CHECK(blob.function(i).address == 0); // stored as 0, as llvm-readobj prints it
        const NamedFunctionRange* fn = find_function(*f, names[i]);
        REQUIRE(fn != nullptr);
        CHECK(r.symbol_value == fn->address);
        CHECK(fn->size > 0);
    }
}

TEST_CASE("resolved_bytes of a .o hold the functions' section offsets") {
    auto f = read_stackmaps_from_file(fx::kStatepointDerived);
    REQUIRE(f.has_value());
    const std::vector<uint8_t> resolved = f->resolved_bytes();
    REQUIRE(resolved.size() == f->bytes.size());
    const NamedFunctionRange* gep = find_function(*f, "dp_gep");
    const NamedFunctionRange* loop = find_function(*f, "dp_loop");
    REQUIRE(gep != nullptr);
    REQUIRE(loop != nullptr);
    CHECK(read64(resolved, 16) == gep->address);
    CHECK(read64(resolved, 16 + 24) == loop->address);
    CHECK(loop->address >= gep->address + gep->size);
    // Only the address fields changed.
    std::vector<uint8_t> a = resolved, b = f->bytes;
    std::memset(a.data() + 16, 0, 8), std::memset(a.data() + 40, 0, 8);
    CHECK(a == b);
}

TEST_CASE("the PIE: link-time addresses stored and one blob per input object") {
    auto f = read_stackmaps_from_file(fx::kExecutable);
    REQUIRE(f.has_value());
    CHECK(f->kind == ObjectKind::Executable);
    CHECK_FALSE(f->relocatable);
    CHECK(f->section_address != 0);
    auto blobs = parse_stackmap_section(f->bytes, f->path);
    REQUIRE(blobs.has_value());
    CHECK(blobs->size() == std::size(fx::kExecutableInputs));
    // GNU ld stored each function's address (and emitted R_X86_64_RELATIVE for the loader).
    const NamedFunctionRange* fn = find_function(*f, "sm_constants");
    REQUIRE(fn != nullptr);
    CHECK((*blobs)[0].function(0).address == fn->address);
    REQUIRE_FALSE(f->relocations.empty());
    CHECK(f->relocations[0].type_name == "R_X86_64_RELATIVE");
    CHECK(static_cast<uint64_t>(f->relocations[0].addend) == fn->address);
    CHECK(f->resolved_bytes() == f->bytes);
    CHECK(find_function(*f, "main") != nullptr);
}

TEST_CASE("the shared object: addresses come from dynamic relocations against the symbols") {
    auto f = read_stackmaps_from_file(fx::kSharedObject);
    REQUIRE(f.has_value());
    CHECK(f->kind == ObjectKind::SharedObject);
    auto blobs = parse_stackmap_section(f->bytes, f->path);
    REQUIRE(blobs.has_value());
    REQUIRE(blobs->size() == std::size(fx::kSharedObjectInputs));
    CHECK((*blobs)[0].function(0).address == 0); // GNU ld leaves the field to the loader
    REQUIRE_FALSE(f->relocations.empty());
    const SectionRelocation& r = f->relocations[0];
    CHECK(r.offset == 16);
    CHECK(r.type_name == "R_X86_64_64");
    CHECK(r.symbol == "csr_roots");
    const NamedFunctionRange* fn = find_function(*f, "csr_roots");
    REQUIRE(fn != nullptr);
    CHECK(read64(f->resolved_bytes(), 16) == fn->address);

    ImageStackMaps image = f->to_image(0x7f0000000000);
    CHECK(image.name == f->path);
    CHECK(image.section.size() == f->bytes.size());
    CHECK(std::any_of(image.functions.begin(), image.functions.end(), [&](const FunctionRange& x) {
        return x.address == fn->address + 0x7f0000000000 && x.size == fn->size;
    }));
}

TEST_CASE("a SHF_COMPRESSED section is decompressed") {
    auto plain = read_stackmaps_from_file(fx::kStatepointDeopt);
    auto comp = read_stackmaps_from_file(GCWALK_COMPRESSED_FIXTURE);
    REQUIRE(plain.has_value());
    REQUIRE(comp.has_value());
    CHECK(comp->was_compressed);
    CHECK(comp->section_size_in_file < comp->bytes.size());
    CHECK(comp->bytes == plain->bytes);
}

TEST_CASE("a file without .llvm_stackmaps gives an empty result") {
    auto f = read_stackmaps_from_file(GCWALK_NO_SECTION_FIXTURE);
    REQUIRE(f.has_value());
    CHECK_FALSE(f->has_section);
    CHECK(f->bytes.empty());
    CHECK(f->relocations.empty());
    CHECK(find_function(*f, "sp_deopt") != nullptr); // the symbols are still read
}

TEST_CASE("errors name the file") {
    SECTION("missing") {
        auto f = read_stackmaps_from_file("/nonexistent/x.o");
        REQUIRE_FALSE(f.has_value());
        CHECK(f.error().message == "/nonexistent/x.o: cannot read: No such file or directory");
    }
    SECTION("not an object file") {
        const std::string txt = std::string(fx::kStatepointDeopt) + ".readobj.txt";
        auto f = read_stackmaps_from_file(txt);
        REQUIRE_FALSE(f.has_value());
        CHECK(f.error().message.rfind(txt + ": not an object file: ", 0) == 0);
    }
    SECTION("truncated ELF: section headers beyond the end") {
        const std::string bytes = slurp(fx::kStatepointDeopt).substr(0, 200);
        const std::string path = std::string(GCWALK_TEST_TMP) + "/truncated.o";
        std::filesystem::create_directories(GCWALK_TEST_TMP);
        std::ofstream(path, std::ios::binary) << bytes;
        auto f = read_stackmaps_from_file(path);
        REQUIRE_FALSE(f.has_value());
        CHECK(f.error().message.rfind(path + ": ", 0) == 0);
    }
}

TEST_CASE("corrupt files never crash the reader or the parser behind it") {
    // Deterministic mutations of real fixtures: truncations anywhere, random bytes anywhere, and
    // random bytes inside the stack map section. Each result is either an error or a value that
    // parses (or fails to parse) cleanly and indexes (or fails to) cleanly.
    std::filesystem::create_directories(GCWALK_TEST_TMP);
    const std::string path = std::string(GCWALK_TEST_TMP) + "/mutant";
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    auto next = [&seed]() {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        return seed;
    };
    size_t errors = 0, parsed = 0;
    for (const char* fixture :
         {fx::kStatepointDeopt, fx::kStackmapOperands, fx::kExecutable, fx::kSharedObject}) {
        const std::string original = slurp(fixture);
        auto clean = read_stackmaps_from_file(fixture);
        REQUIRE(clean.has_value());
        for (int i = 0; i < 150; ++i) {
            std::string bytes = original;
            switch (i % 3) {
            case 0: bytes.resize(next() % bytes.size()); break;
            case 1:
                for (int k = 0; k < 4; ++k)
                    bytes[next() % bytes.size()] = static_cast<char>(next());
                break;
            case 2:
                for (int k = 0; k < 2; ++k)
                    bytes[clean->section_file_offset + next() % clean->section_size_in_file] =
                        static_cast<char>(next());
                break;
            }
            std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
            auto f = read_stackmaps_from_file(path);
            if (!f) {
                ++errors;
                CHECK(f.error().message.rfind(path + ": ", 0) == 0);
                continue;
            }
            auto blobs = parse_stackmap_section(f->bytes, f->path);
            if (!blobs) {
                ++errors;
                CHECK(blobs.error().message.rfind(path + ": blob ", 0) == 0);
                continue;
            }
            ++parsed;
            auto index = FrameIndex::build({f->to_image(f->relocatable ? 0x100000 : 0)});
            (void)index.has_value(); // either way is fine: it must only not crash
        }
    }
    // Both outcomes happen: the mutations are neither all harmless nor all fatal.
    CHECK(errors > 0);
    CHECK(parsed > 0);
}

TEST_CASE("a stripped executable still gives function ranges from .eh_frame FDEs") {
    std::filesystem::create_directories(GCWALK_TEST_TMP);
    const std::string stripped = std::string(GCWALK_TEST_TMP) + "/stripped_exe";
    const std::string cmd =
        std::string(fx::kLlvmObjcopy) + " --strip-all '" + fx::kExecutable + "' '" + stripped + "'";
    REQUIRE(std::system(cmd.c_str()) == 0);
    auto full = read_stackmaps_from_file(fx::kExecutable);
    auto bare = read_stackmaps_from_file(stripped);
    REQUIRE(full.has_value());
    REQUIRE(bare.has_value());
    CHECK(bare->bytes == full->bytes);
    // Every managed function (uwtable: it has an FDE) keeps its range, without a name.
    for (const char* name : {"sm_constants", "sp_deopt", "dp_loop", "pp_anyreg"}) {
        INFO(name);
        const NamedFunctionRange* fn = find_function(*full, name);
        REQUIRE(fn != nullptr);
        CHECK(std::any_of(
            bare->functions.begin(), bare->functions.end(), [&](const NamedFunctionRange& r) {
                return r.address == fn->address && r.size == fn->size && r.name.empty();
            }));
    }
}

TEST_CASE(
    "frame rules from .eh_frame agree with the stack sizes except where arguments were pushed") {
    // docs/DUMP.md: caller SP = SP + StackSize + 8 at ordinary call sites, plus the pushed bytes at
    // sites that push stack arguments. The rules come from the CFI (gcwalk's evaluator, the
    // runtime's), the stack sizes from the stack map: two independent sources. (That the rules are
    // the runtime's own at the loaded image is test_rule_agreement.cpp.)
    auto f = read_stackmaps_from_file(fx::kSharedObject);
    REQUIRE(f.has_value());
    REQUIRE_FALSE(f->rules.empty());
    const std::vector<uint8_t> resolved = f->resolved_bytes();
    auto blobs = parse_stackmap_section(resolved, f->path);
    REQUIRE(blobs.has_value());
    size_t checked = 0, pushed = 0;
    for (const StackMapBlob& blob : *blobs) {
        for (uint32_t fi = 0; fi < blob.num_functions(); ++fi) {
            const FunctionEntry fn = blob.function(fi);
            for (uint64_t r = 0; r < fn.record_count; ++r) {
                const RecordView rec =
                    blob.record(static_cast<uint32_t>(blob.first_record_of(fi) + r));
                const uint64_t ra = fn.address + rec.instruction_offset();
                auto it = std::lower_bound(f->rules.begin(), f->rules.end(), ra,
                                           [](const auto& x, uint64_t a) { return x.first < a; });
                REQUIRE(it != f->rules.end());
                REQUIRE(it->first == ra);
                const FrameRule& rule = it->second;
                CHECK(rule.flags == kRuleFromCfi);
                if (fn.stack_size == kDynamicStackSize) {
                    CHECK(rule.cfa_reg == 6); // dynamic alloca: RBP-based CFA
                    continue;
                }
                if (rule.cfa_reg != 7) continue; // frame-pointer functions: nothing to compare
                const int64_t extra = rule.cfa_offset - static_cast<int64_t>(fn.stack_size + 8);
                INFO("return address " << ra << " extra " << extra);
                CHECK((extra == 0 || extra == 32)); // fr_pushed_args pushes 4 arguments
                pushed += extra == 32;
                ++checked;
            }
        }
    }
    CHECK(checked >= 15); // 19 RSP-based sites in the fixture
    CHECK(pushed == 2);
    // csr_roots saves rbx, r12, r14 and r15 (push r15, r14, r12, rbx): CFA-40 .. CFA-16.
    const NamedFunctionRange* csr = find_function(*f, "csr_roots");
    REQUIRE(csr != nullptr);
    auto it = std::find_if(f->rules.begin(), f->rules.end(), [&](const auto& x) {
        return x.first > csr->address && x.first < csr->address + csr->size;
    });
    REQUIRE(it != f->rules.end());
    CHECK(it->second.saved[0] == -40); // rbx
    CHECK(it->second.saved[1] == 0);   // rbp: not saved
    CHECK(it->second.saved[2] == -32); // r12
    CHECK(it->second.saved[3] == 0);   // r13: not saved
    CHECK(it->second.saved[4] == -24); // r14
    CHECK(it->second.saved[5] == -16); // r15
}

TEST_CASE("a .o has no frame rules (its FDE addresses are unapplied relocations)") {
    auto f = read_stackmaps_from_file(fx::kStatepointFrames);
    REQUIRE(f.has_value());
    CHECK(f->rules.empty());
    CHECK(f->refused_rules.empty());
    CHECK(f->rules_problem.empty());
}

TEST_CASE("every return address of a linked file has a rule or the evaluator's refusal") {
    for (const char* path : {fx::kExecutable, fx::kSharedObject, GCWALK_CFI_REFUSED_SO}) {
        INFO(path);
        auto f = read_stackmaps_from_file(path);
        REQUIRE(f.has_value());
        CHECK(f->rules_problem.empty());
        const std::vector<uint8_t> resolved = f->resolved_bytes();
        auto blobs = parse_stackmap_section(resolved, f->path);
        REQUIRE(blobs.has_value());
        std::vector<uint64_t> ras;
        for (const StackMapBlob& blob : *blobs)
            for (uint32_t fi = 0; fi < blob.num_functions(); ++fi)
                for (uint64_t r = 0; r < blob.function(fi).record_count; ++r)
                    ras.push_back(blob.function(fi).address +
                                  blob.record(static_cast<uint32_t>(blob.first_record_of(fi) + r))
                                      .instruction_offset());
        std::sort(ras.begin(), ras.end());
        ras.erase(std::unique(ras.begin(), ras.end()), ras.end());
        std::vector<uint64_t> covered;
        for (const auto& [ra, rule] : f->rules) {
            covered.push_back(ra);
            CHECK(rule.flags == kRuleFromCfi);
        }
        for (const auto& [ra, why] : f->refused_rules) {
            covered.push_back(ra);
            // The runtime's wording: the file, the FDE and the return address.
            CHECK(why.rfind(f->path + ": FDE at ", 0) == 0);
            CHECK(why.find("return address " + gcwalk::hex(ra) + ": ") != std::string::npos);
        }
        std::sort(covered.begin(), covered.end());
        CHECK(covered == ras);
        // Only the refused-CFI fixture has refusals (LLVM's own CFI is always accepted).
        CHECK(f->refused_rules.empty() == (std::string(path) != GCWALK_CFI_REFUSED_SO));
    }
}

TEST_CASE("what LLVM emits on purpose is indexed with the meaning docs/FORMATS.md gives it") {
    // llvm_emits.ll, compiled plain and with roots in registers: locations of 8192, 3200, 792 and
    // 2048 bytes, stack addresses as gc-live values, derived values of a null base. Each
    // statepoint's roots must be exactly those of readobj's record read with that meaning.
    for (const char* path : {fx::kLlvmEmits, fx::kLlvmEmitsCsr}) {
        INFO(path);
        auto file = read_stackmaps_from_file(path);
        REQUIRE(file);
        std::vector<ImageStackMaps> images;
        images.push_back(file->to_image(0x100000));
        auto index = FrameIndex::build(std::move(images));
        INFO((index ? std::string() : index.error().message));
        REQUIRE(index);

        const std::string readobj_txt = std::string(path) + ".readobj.txt";
        const auto expected = test::parse_readobj_stackmap(test::read_text_file(readobj_txt));
        std::string all;
        for (const auto& r : expected.records)
            for (const auto& l : r.locations) all += l + "\n";
        // The fixture holds every class (else this test would prove nothing).
        for (const char* shape :
             {"size: 8192", "size: 3200", "size: 792", "size: 2048", "Direct R#7"})
            CHECK(all.find(shape) != std::string::npos);

        size_t checked = 0;
        for (const CallSite& cs : index->call_sites()) {
            RecordRef ref;
            REQUIRE(index->record(cs, &ref));
            auto it =
                std::find_if(expected.records.begin(), expected.records.end(),
                             [&](const test::ReadobjRecord& r) { return r.id == ref.view.id(); });
            REQUIRE(it != expected.records.end());
            INFO("record ID " << it->id);
            const auto want = test::readobj_statepoint_pairs(*it);
            const auto roots = index->roots(cs);
            CHECK(roots.size() == want.size());
            for (const RootPair& p : roots) {
                auto text = [](RootLoc l) {
                    return l.kind() == RootLoc::kRegister
                               ? "R#" + std::to_string(l.dwarf_reg())
                               : "[R#" + std::to_string(l.dwarf_reg()) + " + " +
                                     std::to_string(l.offset()) + "]";
                };
                CHECK(std::find(want.begin(), want.end(),
                                std::make_pair(text(p.base), text(p.derived))) != want.end());
            }
            if (it->id == 16) CHECK(roots.size() == 256); // the <256 x ptr> vector
            ++checked;
        }
        CHECK(checked == expected.records.size()); // every record is a statepoint's
    }
}
