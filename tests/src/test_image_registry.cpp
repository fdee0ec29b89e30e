// ImageRegistry on real images: shared objects loaded and unloaded at run time, and executables
// linked by GNU ld and by lld (whose stack map addresses stay unrelocated in memory), also with a
// non-allocated .llvm_stackmaps (read from the file).
#include <gcwalk/image_registry.hpp>

#include <catch2/catch.hpp>

#include <dlfcn.h>
#include <elf.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
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

// The probe's "site" lines: the index described independently of the code's placement.
std::string site_lines(const std::string& out) {
    std::string sites;
    for (size_t at = out.find("site "); at != std::string::npos; at = out.find("site ", at)) {
        size_t end = out.find('\n', at);
        sites += out.substr(at, end - at + 1);
        at = end;
    }
    return sites;
}

std::vector<char> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void write_file(const std::string& path, const std::vector<char>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

// The offset in an ELF file's bytes of the section header of `name` (checked: the fixtures are
// real links). Copied in and out with memcpy: the bytes of a std::vector<char> may be unaligned.
size_t section_header_at(const std::vector<char>& elf, const char* name) {
    Elf64_Ehdr eh;
    REQUIRE(elf.size() >= sizeof eh);
    std::memcpy(&eh, elf.data(), sizeof eh);
    REQUIRE(eh.e_shoff + uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr) <= elf.size());
    REQUIRE(eh.e_shstrndx < eh.e_shnum);
    Elf64_Shdr strtab, sh;
    std::memcpy(&strtab, elf.data() + eh.e_shoff + eh.e_shstrndx * sizeof(Elf64_Shdr), sizeof sh);
    for (unsigned i = 0; i < eh.e_shnum; ++i) {
        const size_t at = eh.e_shoff + i * sizeof(Elf64_Shdr);
        std::memcpy(&sh, elf.data() + at, sizeof sh);
        const std::string n(elf.data() + strtab.sh_offset + sh.sh_name);
        if (sh.sh_name < strtab.sh_size && n == name) return at;
    }
    FAIL("no section " << name);
    return 0;
}

// dlopens a build of index_dlopen.ll; *fn receives the address of its managed function.
void* open_dl(const std::string& path, uint64_t* fn) {
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    INFO(dlerror());
    REQUIRE(h);
    *fn = reinterpret_cast<uint64_t>(dlsym(h, "idx_dl_function"));
    REQUIRE(*fn);
    return h;
}

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
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

TEST_CASE("a non-allocated .llvm_stackmaps is read from the file and indexed as the allocated one",
          "[image_registry]") {
    // The same object linked with the section allocated (GNU ld relocates it in memory) and
    // non-allocated (the linker resolved the addresses; the registry adds the load bias): the
    // same functions, call sites, frame rules and roots, relative to each function.
    const std::string allocated = run(GCWALK_TEST_PROBE_GNU);
    const std::string sites = site_lines(allocated);
    REQUIRE(sites.find("roots=") != std::string::npos);
    CHECK(sites.find("flags=4 ") != std::string::npos); // rules from CFI (kFrameHasRule)
    for (const char* probe : {GCWALK_TEST_PROBE_GNU_NOALLOC, GCWALK_TEST_PROBE_LLD_NOALLOC}) {
        INFO(probe);
        // The section really is not in memory: its bytes come from the file.
        std::vector<gcwalk::FunctionRange> fns;
        std::vector<uint8_t> bytes;
        bool found = false;
        auto sec = gcwalk::find_loaded_stackmaps(probe, 0, &fns, &found, &bytes);
        REQUIRE(sec);
        CHECK(found);
        CHECK_FALSE(bytes.empty());
        CHECK(sec->data() == bytes.data());
        auto not_in_memory = gcwalk::find_loaded_stackmaps(probe, 0, &fns);
        REQUIRE_FALSE(not_in_memory);
        CHECK(not_in_memory.error().message ==
              std::string(probe) +
                  ": .llvm_stackmaps is not an allocated section, so it is not in memory");

        std::string out = run(probe);
        CHECK(out.find("status=ok") != std::string::npos);
        CHECK(out.find("diagnostic:") == std::string::npos);
        CHECK(out.find("call_sites=5 skipped=0\n") != std::string::npos);
        CHECK(out.find("functions=3 unsized=0\n") != std::string::npos);
        CHECK(site_lines(out) == sites);
    }
}

TEST_CASE("a non-allocated main program is read from the file it was loaded from",
          "[image_registry]") {
    // The program's path is replaced by another build (the lld link, another layout) before it
    // scans: /proc/self/exe still names the file that was loaded.
    namespace fs = std::filesystem;
    const std::string self = std::string(GCWALK_TEST_SCRATCH) + "/probe_replaced";
    const std::string other = self + ".next";
    fs::copy_file(GCWALK_TEST_PROBE_GNU_NOALLOC, self, fs::copy_options::overwrite_existing);
    fs::copy_file(GCWALK_TEST_PROBE_LLD_NOALLOC, other, fs::copy_options::overwrite_existing);
    std::string out = run(self + " --replace-self-with " + other);
    CHECK(out.find("diagnostic:") == std::string::npos);
    CHECK(out.find("call_sites=5 skipped=0\n") != std::string::npos);
    CHECK(site_lines(out) == site_lines(run(GCWALK_TEST_PROBE_GNU)));
    CHECK_FALSE(fs::exists(other));
    fs::remove(self);
}

TEST_CASE("allocated and non-allocated stack maps linked together are refused, not half read",
          "[image_registry]") {
    std::string out = run(GCWALK_TEST_PROBE_GNU_MIXED);
    CHECK(out.find(GCWALK_TEST_PROBE_GNU_MIXED
                   ": 2 sections named .llvm_stackmaps (objects with the section allocated and "
                   "objects with it not allocated linked together?)") != std::string::npos);
    CHECK(out.find("call_sites=0 skipped=1\n") != std::string::npos);
}

TEST_CASE("non-allocated stack maps under --gc-sections: what each linker does",
          "[image_registry]") {
    // GNU ld drops the section (nothing allocated refers to it): nothing to index.
    std::string gnu = run(GCWALK_TEST_PROBE_GNU_NOALLOC_GC);
    CHECK(gnu.find("call_sites=0 skipped=0\n") != std::string::npos);
    // lld keeps it, but discards the functions only it refers to: their addresses are 0.
    std::string lld = run(GCWALK_TEST_PROBE_LLD_NOALLOC_GC);
    CHECK(lld.find(GCWALK_TEST_PROBE_LLD_NOALLOC_GC ": blob 0 function 0: address 0x") !=
          std::string::npos);
    CHECK(lld.find(": its link-time address in the non-allocated .llvm_stackmaps is 0, the linker "
                   "discarded the function") != std::string::npos);
    CHECK(lld.find("call_sites=0 skipped=1\n") != std::string::npos);
}

TEST_CASE("the bytes of a non-allocated section outlive the image in the indexes that read them",
          "[image_registry]") {
    // Read from the file, the section is the registry's: an index replaced after dlclose (a
    // walk may still hold it until reclaim) must still read it (ASan checks the reads).
    uint64_t fn = 0;
    void* h = open_dl(GCWALK_TEST_DL_NOALLOC_SO, &fn);
    gcwalk::ImageRegistry reg;
    REQUIRE(reg.rescan());
    const gcwalk::FrameIndex& old = reg.index();
    const gcwalk::FrameRecord* fr = old.function_containing(fn);
    REQUIRE(fr);
    const int64_t bias = old.images()[fr->image].load_bias;
    CHECK(bias != 0); // link-time addresses in the bytes, moved by the load bias
    REQUIRE(dlclose(h) == 0);
    REQUIRE(reg.rescan());
    CHECK(&reg.index() != &old);
    CHECK(reg.index().function_containing(fn) == nullptr);
    const gcwalk::StackMapBlob& blob = old.blob(ref_of(*fr));
    CHECK(blob.function(fr->function).address + static_cast<uint64_t>(bias) == fn);
    reg.reclaim();
}

TEST_CASE("a non-allocated image whose file no longer matches the loaded code is skipped",
          "[image_registry]") {
    // A shared object loaded from a path, then replaced on disk by the same code linked at
    // another address (a rebuild): its stack maps, read from the file, do not describe what is
    // loaded, and the registry says so instead of indexing wrong addresses.
    namespace fs = std::filesystem;
    const std::string path = std::string(GCWALK_TEST_SCRATCH) + "/libstale.so";
    fs::copy_file(GCWALK_TEST_DL_NOALLOC_SO, path, fs::copy_options::overwrite_existing);
    uint64_t fn = 0;
    void* h = open_dl(path, &fn);
    {
        gcwalk::ImageRegistry reg;
        REQUIRE(reg.rescan());
        const gcwalk::FrameRecord* fr = reg.index().function_containing(fn);
        REQUIRE(fr);
        CHECK(fr->function_address == fn);
        CHECK(fr->num_records == 1);
        CHECK((fr->flags & gcwalk::kFrameHasRule) != 0);
        CHECK(reg.skipped().empty());
    }
    // rename: the loaded mapping keeps the old file; the path names the new one.
    fs::copy_file(GCWALK_TEST_DL_NOALLOC_MOVED_SO, path + ".new",
                  fs::copy_options::overwrite_existing);
    fs::rename(path + ".new", path);
    {
        gcwalk::ImageRegistry reg;
        REQUIRE(reg.rescan());
        CHECK(reg.index().function_containing(fn) == nullptr);
        auto skipped = reg.skipped();
        REQUIRE(skipped.size() == 1);
        CHECK(skipped[0].path == path);
        INFO(skipped[0].reason);
        CHECK(skipped[0].reason.rfind(path + ": blob 0 function 0: address 0x", 0) == 0);
        CHECK(skipped[0].reason.find(") of the non-allocated .llvm_stackmaps lies outside the "
                                     "image's executable segments: the file is not the one that "
                                     "was loaded") != std::string::npos);
    }
    REQUIRE(dlclose(h) == 0);
    fs::remove(path);
}

TEST_CASE("a non-allocated section that its file cannot hold is an error naming file and offset",
          "[image_registry]") {
    std::vector<char> elf = read_file(GCWALK_TEST_DL_NOALLOC_SO);
    std::vector<gcwalk::FunctionRange> fns;
    std::vector<uint8_t> bytes;
    // The section's offset moved to the file's last 4 bytes: its size runs past the end.
    const std::string past_end = std::string(GCWALK_TEST_SCRATCH) + "/past_end.so";
    std::vector<char> edited = elf;
    const size_t at = section_header_at(edited, ".llvm_stackmaps");
    Elf64_Shdr sh;
    std::memcpy(&sh, edited.data() + at, sizeof sh);
    REQUIRE((sh.sh_flags & SHF_ALLOC) == 0);
    REQUIRE(sh.sh_size > 4);
    sh.sh_offset = edited.size() - 4;
    std::memcpy(edited.data() + at, &sh, sizeof sh);
    write_file(past_end, edited);
    auto bad = gcwalk::find_loaded_stackmaps(past_end, 0, &fns, nullptr, &bytes);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message == past_end + ": .llvm_stackmaps at offset " +
                                     hex(edited.size() - 4) + " of size " + hex(sh.sh_size) +
                                     " runs past the end of the file (" + hex(edited.size()) +
                                     " bytes)");
    // A truncated file (a copy cut short): the section headers at its end are gone.
    const std::string cut = std::string(GCWALK_TEST_SCRATCH) + "/truncated.so";
    Elf64_Ehdr eh;
    std::memcpy(&eh, elf.data(), sizeof eh);
    elf.resize(eh.e_shoff + 10);
    write_file(cut, elf);
    auto truncated = gcwalk::find_loaded_stackmaps(cut, 0, &fns, nullptr, &bytes);
    REQUIRE_FALSE(truncated);
    CHECK(truncated.error().message ==
          cut + ": section header table at offset " + hex(eh.e_shoff) + " is out of bounds");
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

TEST_CASE("an image with a valid .gcwalk_frames is indexed from it, as from its stack maps",
          "[image_registry]") {
    const std::string packed = run(GCWALK_TEST_PROBE_PACKED);
    INFO(packed);
    CHECK(packed.find("status=ok") != std::string::npos);
    CHECK(packed.find("diagnostic: " + std::string(GCWALK_TEST_PROBE_PACKED) +
                      ": indexed from .gcwalk_frames (5 call sites)\n") != std::string::npos);
    CHECK(packed.find("call_sites=5 skipped=0\n") != std::string::npos);
    CHECK(packed.find("functions=3 unsized=0\n") != std::string::npos);
    // GCWALK_FRAME_TABLE=0: the same image indexed from .llvm_stackmaps gives the same index.
    const std::string unpacked =
        run("GCWALK_FRAME_TABLE=0 " + std::string(GCWALK_TEST_PROBE_PACKED));
    CHECK(unpacked.find(".gcwalk_frames") == std::string::npos);
    CHECK(unpacked.find("diagnostic:") == std::string::npos);
    REQUIRE(site_lines(packed).find("roots=") != std::string::npos);
    CHECK(site_lines(packed).find("flags=4 ") != std::string::npos); // CFI rules, from the table
    CHECK(site_lines(packed) == site_lines(unpacked));
    CHECK(site_lines(packed) == site_lines(run(GCWALK_TEST_PROBE_GNU_NOALLOC)));
    // An allocated section is read where the loader put it.
    const std::string alloc = run(GCWALK_TEST_PROBE_PACKED_ALLOC);
    INFO(alloc);
    CHECK(alloc.find("diagnostic: " + std::string(GCWALK_TEST_PROBE_PACKED_ALLOC) +
                     ": indexed from .gcwalk_frames (5 call sites)\n") != std::string::npos);
    CHECK(site_lines(alloc) == site_lines(packed));
}

TEST_CASE("a .gcwalk_frames packed for another build is refused by name, and the stack maps used",
          "[image_registry]") {
    const std::string stale = run(GCWALK_TEST_PROBE_STALE);
    INFO(stale);
    const std::string prefix = "diagnostic: " + std::string(GCWALK_TEST_PROBE_STALE) +
                               ": .gcwalk_frames was packed for build ID ";
    CHECK(stale.find(prefix) != std::string::npos);
    CHECK(stale.find(": re-run gcwalk-pack on this build (.gcwalk_frames not used)\n") !=
          std::string::npos);
    CHECK(stale.find("call_sites=5 skipped=0\n") != std::string::npos);
    CHECK(site_lines(stale) == site_lines(run(GCWALK_TEST_PROBE_GNU_NOALLOC)));
    // Without .llvm_stackmaps to fall back to, the image is skipped: its roots are unknown.
    const std::string bare = run(GCWALK_TEST_PROBE_STALE_BARE);
    INFO(bare);
    CHECK(bare.find("call_sites=0 skipped=1\n") != std::string::npos);
    CHECK(bare.find("(and the image has no .llvm_stackmaps)\n") != std::string::npos);
}
