// A program that scans its own process with ImageRegistry and prints what it found; the registry
// tests run it linked in different ways (GNU ld PIE, lld PIE).
#include <gcwalk/image_registry.hpp>

#include <cstdio>

extern "C" {
void gcwalk_test_callee() {}
void* gcwalk_test_make() {
    return nullptr;
}
}

int main() {
    gcwalk::ImageRegistry registry;
    auto st = registry.rescan();
    std::printf("status=%s\n", st ? "ok" : st.message().c_str());
    for (const auto& d : registry.diagnostics()) std::printf("diagnostic: %s\n", d.c_str());
    std::printf("call_sites=%zu skipped=%zu\n", registry.index().num_call_sites(),
                registry.skipped().size());
    size_t unsized = 0;
    for (const auto& f : registry.index().frames())
        unsized += (f.flags & gcwalk::kFrameSizeUnknown) != 0;
    std::printf("functions=%zu unsized=%zu\n", registry.index().frames().size(), unsized);
    return 0;
}
