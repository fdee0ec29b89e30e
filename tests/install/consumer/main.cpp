// A program that uses an installed gcwalk: scans its own process and indexes a JIT blob.
#include <gcwalk/image_registry.hpp>
#ifdef GCWALK_CONSUMER_WITH_OBJECT
#include <gcwalk/object_file.hpp>
#endif

#include <cstdio>
#include <cstring>

int main(int, char** argv) {
#ifdef GCWALK_CONSUMER_WITH_OBJECT
    // gcwalk::object reads files on disk: this executable has no stack maps, and says so.
    auto file = gcwalk::read_stackmaps_from_file(argv[0]);
    if (!file) {
        std::fprintf(stderr, "read_stackmaps_from_file failed: %s\n", file.error().message.c_str());
        return 1;
    }
#else
    (void)argv;
#endif
    gcwalk::ImageRegistry registry;
    if (auto st = registry.rescan(); !st) {
        std::fprintf(stderr, "rescan failed: %s\n", st.message().c_str());
        return 1;
    }
    // A minimal v3 blob: one function at 0x1000 (stack size 8) with one record, no locations.
    unsigned char blob[16 + 24 + 24] = {3};
    auto put = [&](size_t off, uint64_t v, size_t n) { std::memcpy(blob + off, &v, n); };
    put(4, 1, 4), put(8, 0, 4), put(12, 1, 4);
    put(16, 0x1000, 8), put(24, 8, 8), put(32, 1, 8);
    put(40, 42, 8), put(48, 4, 4);
    auto h = registry.add_jit("consumer-jit", {blob, sizeof blob}, {{0x1000, 16}});
    if (!h) {
        std::fprintf(stderr, "add_jit failed: %s\n", h.error().message.c_str());
        return 1;
    }
    const gcwalk::CallSite* cs = registry.index().find(0x1004);
    if (!cs || registry.index().find(0x1005)) {
        std::fprintf(stderr, "lookup gave the wrong answer\n");
        return 1;
    }
    std::printf("consumer: %zu call sites indexed\n", registry.index().num_call_sites());
    return 0;
}
