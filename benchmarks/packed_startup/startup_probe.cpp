// Start-up of a process whose managed code has many call sites: times ImageRegistry::rescan()
// (the first: every image read), and with "--pack FILE" packs its own stack maps
// (tests/src/pack_self.cpp). Driven by packed_startup.sh.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <gcwalk/image_registry.hpp>
extern "C" {
void callee() {}
void* make() {
    return nullptr;
}
}
int pack_self(const char* out_path);
int main(int argc, char** argv) {
    if (argc == 3 && std::strcmp(argv[1], "--pack") == 0) return pack_self(argv[2]);
    auto t = std::chrono::steady_clock::now();
    gcwalk::ImageRegistry registry;
    auto st = registry.rescan();
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
    std::printf("rescan %.2f ms, %zu call sites, ok=%d\n", ms, registry.index().num_call_sites(),
                bool(st));
    for (auto& d : registry.diagnostics()) std::printf("  %s\n", d.c_str());
}
