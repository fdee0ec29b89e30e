// Build-time helper for the fuzz corpus: reads a .llvm_stackmaps section and writes its flat v2
// form, so that the fuzzer starts from real v2 blobs as well as real v3 sections.
#include <gcwalk/stackmap_v2.hpp>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: make_v2_seed SECTION.bin OUT.v2\n");
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in),
                                     std::istreambuf_iterator<char>()};
    auto blobs = gcwalk::parse_stackmap_section(bytes, argv[1]);
    if (!blobs) {
        std::fprintf(stderr, "%s\n", blobs.error().message.c_str());
        return 1;
    }
    auto v2 = gcwalk::v2_from_v3(*blobs, {});
    if (!v2) {
        std::fprintf(stderr, "%s\n", v2.error().message.c_str());
        return 1;
    }
    auto out = gcwalk::write_v2(*v2);
    if (!out) {
        std::fprintf(stderr, "%s\n", out.error().message.c_str());
        return 1;
    }
    std::ofstream(argv[2], std::ios::binary)
        .write(reinterpret_cast<const char*>(out->data()),
               static_cast<std::streamsize>(out->size()));
    return 0;
}
