// Start-up: what the first ImageRegistry::rescan() costs with a generated shared object of N call
// sites loaded (benchmarks/startup/CMakeLists.txt), its index built from stack map v3 + CFI
// (GCWALK_FRAME_TABLE=0) or from its packed .gcwalk_frames table, beside the same rescan with the
// image not loaded (what the process's other images cost). Counters: the image's call sites and
// roots, the bytes of its v3 section, of the table's payload and of the compressed section.
// Figures: docs/PERFORMANCE.md ("Start-up").
#include <gcwalk/frame_chunks.hpp>
#include <gcwalk/frame_table.hpp>
#include <gcwalk/image_registry.hpp>

#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <elf.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace {

enum Mode { kNotLoaded = 0, kFromV3 = 1, kFromTable = 2 };

std::string library(int64_t sites) {
    return std::string(GCWALK_GEN_DIR) + "/libgcwalk_gen_" + std::to_string(sites) + ".so";
}

// The contents of section `name` of an ELF file (empty when absent).
std::vector<uint8_t> section_bytes(const std::vector<char>& file, const char* name) {
    if (file.size() < sizeof(Elf64_Ehdr)) return {};
    Elf64_Ehdr eh;
    std::memcpy(&eh, file.data(), sizeof eh);
    if (eh.e_shoff + uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr) > file.size()) return {};
    std::vector<Elf64_Shdr> sh(eh.e_shnum);
    std::memcpy(sh.data(), file.data() + eh.e_shoff, sh.size() * sizeof(Elf64_Shdr));
    if (eh.e_shstrndx >= sh.size()) return {};
    const Elf64_Shdr& names = sh[eh.e_shstrndx];
    for (const Elf64_Shdr& s : sh) {
        if (s.sh_name >= names.sh_size || s.sh_type == SHT_NOBITS ||
            s.sh_offset + s.sh_size > file.size())
            continue;
        if (std::strcmp(file.data() + names.sh_offset + s.sh_name, name) == 0)
            return {file.data() + s.sh_offset, file.data() + s.sh_offset + s.sh_size};
    }
    return {};
}

// The generated image, loaded for the benchmarks that want it and unloaded for the one that
// does not.
struct Loaded {
    void* handle = nullptr;
    std::string path;
    bool load(const std::string& p) {
        if (handle && path == p) return true;
        unload();
        handle = ::dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
        path = p;
        return handle != nullptr;
    }
    void unload() {
        if (handle) ::dlclose(handle);
        handle = nullptr;
    }
} g_loaded;

void BM_Rescan(benchmark::State& state) {
    const int64_t sites = state.range(0);
    const auto mode = static_cast<Mode>(state.range(1));
    const std::string path = library(sites);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        state.SkipWithError(
            ("not built: cmake --build <build> --target gcwalk_gen_" + std::to_string(sites))
                .c_str());
        return;
    }
    if (mode == kNotLoaded) {
        g_loaded.unload();
    } else if (!g_loaded.load(path)) {
        state.SkipWithError(::dlerror());
        return;
    }
    ::setenv("GCWALK_FRAME_TABLE", mode == kFromV3 ? "0" : "1", 1);

    size_t call_sites = 0;
    for (auto _ : state) {
        auto registry = std::make_unique<gcwalk::ImageRegistry>();
        auto st = registry->rescan();
        benchmark::DoNotOptimize(st);
        state.PauseTiming();
        call_sites = registry->index().num_call_sites();
        registry.reset();
        state.ResumeTiming();
    }

    // What the image is made of, and that the path asked for is the one taken.
    gcwalk::ImageRegistry registry;
    (void)registry.rescan();
    bool from_table = false;
    for (const std::string& d : registry.diagnostics())
        if (d.find(path) != std::string::npos &&
            d.find(gcwalk::kFrameTableSection) != std::string::npos &&
            d.find("indexed from") != std::string::npos)
            from_table = true;
    if (mode != kNotLoaded && from_table != (mode == kFromTable)) {
        state.SkipWithError(mode == kFromTable ? "the image was not indexed from its table"
                                               : "the image was indexed from its table");
        return;
    }
    uint64_t roots = 0, image_sites = 0;
    for (const gcwalk::CallSite& cs : registry.index().call_sites()) {
        const gcwalk::FrameRecord* f = registry.index().frame(cs);
        if (f && registry.index().images()[f->image].name == path)
            roots += cs.num_roots(), ++image_sites;
    }
    const std::vector<char> file((std::istreambuf_iterator<char>(in)), {});
    const auto v3 = section_bytes(file, ".llvm_stackmaps");
    const auto packed = section_bytes(file, gcwalk::kFrameTableSection);
    auto payload = gcwalk::read_frame_chunks(packed, path);
    state.counters["index_sites"] = static_cast<double>(call_sites);
    state.counters["image_sites"] = static_cast<double>(image_sites);
    state.counters["image_roots"] = static_cast<double>(roots);
    state.counters["v3_bytes"] = static_cast<double>(v3.size());
    state.counters["payload_bytes"] = payload ? static_cast<double>(payload->size()) : -1;
    state.counters["compressed_bytes"] = static_cast<double>(packed.size());
}

BENCHMARK(BM_Rescan)
    ->ArgNames({"sites", "from"})
    ->ArgsProduct({{10000, 100000, 1000000}, {kNotLoaded, kFromV3, kFromTable}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

} // namespace

BENCHMARK_MAIN();
