// ImageRegistry on real images: shared objects loaded and unloaded at run time, and executables
// linked by GNU ld and by lld (whose stack map addresses stay unrelocated in memory).
#include <gcwalk/image_registry.hpp>

#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    CHECK(pclose(p) == 0);
    return out;
}

// The blob of a function, as FrameIndex::blob finds it.
gcwalk::RecordRef ref_of(const gcwalk::FrameRecord& fr) {
    gcwalk::RecordRef ref;
    ref.image = fr.image;
    ref.blob = fr.blob;
    return ref;
}

// A v3 blob of one function at `address` with no records.
std::vector<uint8_t> empty_function_blob(uint64_t address) {
    std::vector<uint8_t> b(
        gcwalk::StackMapBlob::kHeaderSize + gcwalk::StackMapBlob::kFunctionEntrySize, 0);
    b[gcwalk::v3::HeaderLayout::version] = 3;
    b[gcwalk::v3::HeaderLayout::num_functions] = 1;
    std::memcpy(&b[gcwalk::StackMapBlob::kHeaderSize + gcwalk::v3::FunctionLayout::address],
                &address, 8);
    return b;
}

} // namespace

TEST_CASE("a dlopen'ed shared object is found by the next rescan and dropped after dlclose",
          "[image_registry]") {
    gcwalk::ImageRegistry reg;
    REQUIRE(reg.rescan());
    size_t before = reg.index().num_call_sites();

    void* h = dlopen(GCWALK_TEST_DL_SO, RTLD_NOW | RTLD_LOCAL);
    INFO(dlerror());
    REQUIRE(h);
    auto fn = reinterpret_cast<uint64_t>(dlsym(h, "idx_dl_function"));
    REQUIRE(fn);
    CHECK(reg.index().function_containing(fn) == nullptr); // not until the next rescan

    REQUIRE(reg.rescan());
    const gcwalk::FrameRecord* fr = reg.index().function_containing(fn);
    REQUIRE(fr);
    CHECK(fr->function_address == fn);
    CHECK(fr->num_records == 1);
    CHECK(reg.index().num_call_sites() == before + 1);
    CHECK(reg.diagnostics().empty());

    // A rescan with nothing changed publishes nothing new.
    const gcwalk::FrameIndex* same = &reg.index();
    REQUIRE(reg.rescan());
    CHECK(&reg.index() == same);

    // An index published later (a JIT blob added) reads the blobs parsed when the image was found.
    const gcwalk::StackMapBlob* parsed = &reg.index().blob(ref_of(*fr));
    auto jit = reg.add_jit("jit-empty", empty_function_blob(0x7000'0000'0000));
    INFO((jit ? std::string() : jit.error().message));
    REQUIRE(jit);
    REQUIRE(&reg.index() != same);
    const gcwalk::FrameRecord* again = reg.index().function_containing(fn);
    REQUIRE(again);
    CHECK(&reg.index().blob(ref_of(*again)) == parsed);
    REQUIRE(reg.remove_jit(*jit));

    REQUIRE(dlclose(h) == 0);
    REQUIRE(reg.rescan());
    CHECK(reg.index().function_containing(fn) == nullptr);
    CHECK(reg.index().num_call_sites() == before);
    reg.reclaim();
}

TEST_CASE("an executable linked by GNU ld has its stack maps indexed", "[image_registry]") {
    std::string out = run(GCWALK_TEST_PROBE_GNU);
    CHECK(out.find("status=ok") != std::string::npos);
    CHECK(out.find("diagnostic:") == std::string::npos);
    CHECK(out.find("call_sites=5 skipped=0\n") != std::string::npos);
    CHECK(out.find("functions=3 unsized=0\n") != std::string::npos); // sizes from the symbol table
}

TEST_CASE("a stripped executable gets its function sizes from .eh_frame", "[image_registry]") {
    std::string out = run(GCWALK_TEST_PROBE_GNU_STRIPPED);
    CHECK(out.find("diagnostic:") == std::string::npos);
    CHECK(out.find("call_sites=5 skipped=0\n") != std::string::npos);
    CHECK(out.find("functions=3 unsized=0\n") != std::string::npos);
}

TEST_CASE("an lld-linked PIE whose stack maps stay unrelocated is reported, not indexed",
          "[image_registry]") {
    std::string out = run(GCWALK_TEST_PROBE_LLD);
    CHECK(out.find("status=ok") != std::string::npos);
    CHECK(out.find("is unrelocated in memory") != std::string::npos);
    CHECK(out.find(GCWALK_TEST_PROBE_LLD ": blob 0 function 0: address 0x") != std::string::npos);
    CHECK(out.find("call_sites=0 skipped=1\n") != std::string::npos);
}

TEST_CASE("a non-allocated .llvm_stackmaps is a skipped image, not only a diagnostic",
          "[image_registry]") {
    // Stack maps exist but are not in memory: a precise collector must be told to stop.
    std::string out = run(GCWALK_TEST_PROBE_GNU_NOALLOC);
    CHECK(out.find("status=ok") != std::string::npos);
    CHECK(out.find(GCWALK_TEST_PROBE_GNU_NOALLOC
                   ": .llvm_stackmaps is not an allocated section, so it is not in memory") !=
          std::string::npos);
    CHECK(out.find("call_sites=0 skipped=1\n") != std::string::npos);
}

TEST_CASE("the documented lld fixes and the --gc-sections fragment give a complete index",
          "[image_registry]") {
    for (const char* probe : {GCWALK_TEST_PROBE_LLD_NOTEXT, GCWALK_TEST_PROBE_LLD_WRITABLE,
                              GCWALK_TEST_PROBE_GNU_GC_KEEP, GCWALK_TEST_PROBE_LLD_GC_KEEP}) {
        INFO(probe);
        std::string out = run(probe);
        CHECK(out.find("diagnostic:") == std::string::npos);
        CHECK(out.find("call_sites=5 skipped=0\n") != std::string::npos);
    }
    // Without the fragment, --gc-sections drops the section silently: nothing to index.
    std::string out = run(GCWALK_TEST_PROBE_GNU_GC);
    CHECK(out.find("call_sites=0 skipped=0\n") != std::string::npos);
}

TEST_CASE("find_loaded_stackmaps names the file it cannot use", "[image_registry]") {
    std::vector<gcwalk::FunctionRange> fns;
    auto missing = gcwalk::find_loaded_stackmaps("/nonexistent/file", 0, &fns);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message == "/nonexistent/file: cannot open: No such file or directory");
    auto not_elf = gcwalk::find_loaded_stackmaps(GCWALK_TEST_NOT_ELF, 0, &fns);
    REQUIRE_FALSE(not_elf);
    CHECK(not_elf.error().message ==
          std::string(GCWALK_TEST_NOT_ELF) + ": not a 64-bit little-endian ELF file");
}
