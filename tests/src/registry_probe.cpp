// A program that scans its own process with ImageRegistry and prints what it found; the registry
// tests run it linked in different ways (GNU ld PIE, lld PIE, non-allocated stack maps). The
// "site" lines describe the index independently of where the linker placed the code (offsets
// from each function's start), so that two links of the same object can be compared.
#include <gcwalk/image_registry.hpp>

#include <cstdio>
#include <cstring>

extern "C" {
void gcwalk_test_callee() {}
void* gcwalk_test_make() {
    return nullptr;
}
}

#ifdef GCWALK_PROBE_PACK
int pack_self(const char* out_path); // pack_self.cpp
#endif

int main(int argc, char** argv) {
#ifdef GCWALK_PROBE_PACK
    if (argc == 3 && std::strcmp(argv[1], "--pack") == 0) return pack_self(argv[2]);
#endif
    // "--replace-self-with FILE": FILE is renamed over this program's path before the scan (a
    // rebuild while it runs); the registry must still read the file that was loaded.
    if (argc == 3 && std::strcmp(argv[1], "--replace-self-with") == 0 &&
        std::rename(argv[2], argv[0]) != 0) {
        std::perror("rename");
        return 1;
    }
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
    const gcwalk::FrameIndex& index = registry.index();
    for (const gcwalk::CallSite& cs : index.call_sites()) {
        const gcwalk::FrameRecord* f = index.frame(cs);
        if (!f) {
            std::printf("site without a function at %#llx\n",
                        static_cast<unsigned long long>(cs.return_address()));
            continue;
        }
        // The frame is the n-th managed function in address order (the same order in every link).
        const size_t n = static_cast<size_t>(f - index.frames().data());
        const gcwalk::FrameRule& r = index.rule(cs);
        std::printf("site function=%zu size=%llu stack=%llu flags=%u offset=%llu rule=%d,%u,%u,"
                    "%d,%d,%d,%d,%d,%d roots=",
                    n, static_cast<unsigned long long>(f->function_size),
                    static_cast<unsigned long long>(f->stack_size), f->flags,
                    static_cast<unsigned long long>(cs.return_address() - f->function_address),
                    r.cfa_offset, r.cfa_reg, r.flags, r.saved[0], r.saved[1], r.saved[2],
                    r.saved[3], r.saved[4], r.saved[5]);
        for (const gcwalk::RootPair& p : index.roots(cs))
            std::printf("%x/%x ", p.base.bits, p.derived.bits);
        std::printf("\n");
    }
    return 0;
}
