// libFuzzer target for the .gcwalk_frames chunk reader and its inflater: any bytes as a section,
// under a small payload limit (a claimed size past it is refused before any allocation), and the
// first bytes' zlib stream on its own against a declared size taken from the input.
#include <gcwalk/frame_chunks.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

volatile uint64_t sink; // keeps the reads from being optimised away

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> in(data, size);
    if (auto payload = gcwalk::read_frame_chunks(in, "fuzz", 64u << 20)) {
        uint64_t acc = payload->size();
        for (uint8_t b : *payload) acc += b;
        sink = acc;
    } else {
        sink = payload.error().message.size();
    }
    if (size >= 4) {
        const uint32_t declared = (uint32_t{data[0]} | uint32_t{data[1]} << 8) << 4;
        std::vector<uint8_t> out;
        const gcwalk::Status st = gcwalk::inflate_zlib(in.subspan(2), declared, out);
        sink = st ? out.size() : st.message().size();
    }
    return 0;
}
