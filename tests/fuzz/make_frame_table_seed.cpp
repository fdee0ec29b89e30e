// Writes a .gcwalk_frames payload seed for the frame table fuzzer: the stack maps of a real
// section (a .o's, every function address 0) with its functions placed 64 KiB apart, packed.
//   make_frame_table_seed IN.bin OUT
#include <gcwalk/frame_table.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: make_frame_table_seed IN.bin OUT\n");
        return 2;
    }
    std::ifstream f(argv[1], std::ios::binary);
    std::vector<uint8_t> section{std::istreambuf_iterator<char>(f), {}};
    auto blobs = gcwalk::parse_stackmap_section(section, argv[1]);
    if (!blobs) return std::fprintf(stderr, "%s\n", blobs.error().message.c_str()), 1;
    uint64_t next = 0x100000;
    for (const auto& blob : *blobs)
        for (uint32_t i = 0; i < blob.num_functions(); ++i, next += 0x10000)
            std::memcpy(section.data() + blob.offset_in_section() + blob.function_entry_offset(i),
                        &next, 8);
    gcwalk::ImageStackMaps img;
    img.name = argv[1];
    img.section = section;
    auto table = gcwalk::pack_frame_table(img, {{0xab, 0xcd}, {{0x100000, 0x40000}}, 0x1234});
    if (!table) return std::fprintf(stderr, "%s\n", table.error().message.c_str()), 1;
    auto bytes = gcwalk::write_frame_table(*table);
    if (!bytes) return std::fprintf(stderr, "%s\n", bytes.error().message.c_str()), 1;
    std::ofstream o(argv[2], std::ios::binary);
    o.write(reinterpret_cast<const char*>(bytes->data()),
            static_cast<std::streamsize>(bytes->size()));
    return o ? 0 : 1;
}
