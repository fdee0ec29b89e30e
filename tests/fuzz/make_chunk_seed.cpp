// Writes a .gcwalk_frames seed for the chunk fuzzer: each input file as a chunk compressed by zlib
// (the compressor gcwalk-pack uses), stored, fixed-Huffman and dynamic, back to back.
//   make_chunk_seed OUT IN...
#include <gcwalk/frame_chunks.hpp>

#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: make_chunk_seed OUT IN...\n");
        return 2;
    }
    std::vector<uint8_t> section;
    for (int i = 2; i < argc; ++i) {
        std::ifstream f(argv[i], std::ios::binary);
        const std::vector<uint8_t> in{std::istreambuf_iterator<char>(f),
                                      std::istreambuf_iterator<char>()};
        for (auto [level, strategy] : {std::pair{0, Z_DEFAULT_STRATEGY}, std::pair{9, Z_FIXED},
                                       std::pair{9, Z_DEFAULT_STRATEGY}}) {
            z_stream z{};
            if (deflateInit2(&z, level, Z_DEFLATED, 15, 8, strategy) != Z_OK) return 1;
            std::vector<uint8_t> out(deflateBound(&z, in.size()) + 16);
            z.next_in = const_cast<Bytef*>(in.data());
            z.avail_in = static_cast<uInt>(in.size());
            z.next_out = out.data();
            z.avail_out = static_cast<uInt>(out.size());
            if (deflate(&z, Z_FINISH) != Z_STREAM_END) return 1;
            out.resize(z.total_out);
            deflateEnd(&z);
            gcwalk::append_frame_chunk(section, in.size(), out);
        }
    }
    std::ofstream o(argv[1], std::ios::binary);
    o.write(reinterpret_cast<const char*>(section.data()),
            static_cast<std::streamsize>(section.size()));
    return o ? 0 : 1;
}
