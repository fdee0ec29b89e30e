// The .gcwalk_frames chunk reader and its inflater, against zlib (the compressor gcwalk-pack
// uses): every kind of deflate block zlib writes (stored, fixed and dynamic Huffman, each
// strategy), real stack map sections as payload, several chunks back to back, and every way a
// chunk can be wrong.
#include <gcwalk/frame_chunks.hpp>

#include <catch2/catch.hpp>

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace {

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE(f);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// zlib's own deflate at `level` with `strategy` (Z_DEFAULT_STRATEGY, Z_FILTERED,
// Z_HUFFMAN_ONLY, Z_RLE, Z_FIXED).
std::vector<uint8_t> zlib_compress(const std::vector<uint8_t>& in, int level, int strategy) {
    z_stream z{};
    REQUIRE(deflateInit2(&z, level, Z_DEFLATED, 15, 8, strategy) == Z_OK);
    std::vector<uint8_t> out(deflateBound(&z, in.size()) + 16);
    z.next_in = const_cast<Bytef*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

std::vector<uint8_t> chunk(const std::vector<uint8_t>& payload, int level = 6,
                           int strategy = Z_DEFAULT_STRATEGY) {
    std::vector<uint8_t> section;
    gcwalk::append_frame_chunk(section, payload.size(), zlib_compress(payload, level, strategy));
    return section;
}

// Payloads: a real stack map section, text-like bytes, random bytes, long runs, nothing.
std::vector<std::vector<uint8_t>> payloads() {
    std::vector<std::vector<uint8_t>> p;
    p.push_back(read_file(GCWALK_FIXTURE_DIR "/both.bin"));
    std::string text;
    for (int i = 0; i < 3000; ++i) text += "frame " + std::to_string(i * 7 % 113) + " roots;";
    p.emplace_back(text.begin(), text.end());
    std::mt19937 rng(7);
    std::vector<uint8_t> random(70000);
    for (uint8_t& b : random) b = static_cast<uint8_t>(rng());
    p.push_back(random);
    p.emplace_back(100000, uint8_t{0x5a});
    p.emplace_back();
    return p;
}

} // namespace

TEST_CASE("every stream zlib writes inflates to its bytes", "[chunks]") {
    int streams = 0;
    for (const auto& payload : payloads())
        for (int level : {0, 1, 6, 9})
            for (int strategy : {Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE, Z_FIXED}) {
                INFO("payload of " << payload.size() << " bytes, level " << level << ", strategy "
                                   << strategy);
                auto got = gcwalk::read_frame_chunks(chunk(payload, level, strategy), "t");
                REQUIRE(got);
                CHECK(*got == payload);
                ++streams;
            }
    CHECK(streams == 5 * 4 * 5);
}

TEST_CASE("chunks back to back are all read, in order", "[chunks]") {
    // As a linker concatenates the sections of several objects.
    std::vector<uint8_t> section, expected;
    for (const auto& payload : payloads()) {
        const auto c = chunk(payload);
        section.insert(section.end(), c.begin(), c.end());
        expected.insert(expected.end(), payload.begin(), payload.end());
    }
    auto got = gcwalk::read_frame_chunks(section, "t");
    REQUIRE(got);
    CHECK(*got == expected);
    auto empty = gcwalk::read_frame_chunks({}, "t");
    REQUIRE(empty);
    CHECK(empty->empty());
}

TEST_CASE("a wrong chunk is refused with its index, offset and reason", "[chunks]") {
    const std::vector<uint8_t> payload = read_file(GCWALK_FIXTURE_DIR "/both.bin");
    const std::vector<uint8_t> good = chunk(payload);
    const std::vector<uint8_t> stream = zlib_compress(payload, 6, Z_DEFAULT_STRATEGY);
    auto refused = [](const std::vector<uint8_t>& section, const std::string& part) {
        auto got = gcwalk::read_frame_chunks(section, "libx.so", 1u << 20);
        REQUIRE_FALSE(got);
        INFO(got.error().message);
        CHECK(got.error().message.rfind("libx.so: .gcwalk_frames chunk ", 0) == 0);
        CHECK(got.error().message.find(part) != std::string::npos);
    };
    SECTION("a size that runs past the section") {
        std::vector<uint8_t> s;
        gcwalk::append_frame_chunk(s, payload.size(), stream);
        s.resize(s.size() - 1);
        refused(s, "runs past the section's end");
    }
    SECTION("truncated sizes") {
        refused({0x80}, "original size (ULEB128) is truncated");
        refused({0x05, 0xff}, "compressed size (ULEB128) is truncated");
    }
    SECTION("a decompression bomb's claim is refused before anything is allocated") {
        std::vector<uint8_t> s;
        gcwalk::append_frame_chunk(s, uint64_t{1} << 40, stream);
        refused(s, "more than deflate can produce");
        std::vector<uint8_t> big(3u << 20, 0);
        std::vector<uint8_t> s2;
        gcwalk::append_frame_chunk(s2, big.size(), zlib_compress(big, 9, Z_DEFAULT_STRATEGY));
        refused(s2, "past the limit of 1048576 bytes");
    }
    SECTION("a stream that inflates to more or fewer bytes than declared") {
        std::vector<uint8_t> s;
        gcwalk::append_frame_chunk(s, payload.size() - 1, stream);
        refused(s, "inflates past its declared size");
        std::vector<uint8_t> s2;
        gcwalk::append_frame_chunk(s2, payload.size() + 1, stream);
        refused(s2, "not the " + std::to_string(payload.size() + 1) + " declared");
    }
    SECTION("a bad header, checksum or stream") {
        std::vector<uint8_t> bad = stream;
        bad[0] = 0x79; // not deflate
        std::vector<uint8_t> s;
        gcwalk::append_frame_chunk(s, payload.size(), bad);
        refused(s, "not deflate");
        bad = stream;
        bad[bad.size() - 1] ^= 1;
        s.clear();
        gcwalk::append_frame_chunk(s, payload.size(), bad);
        refused(s, "Adler-32");
        bad = stream;
        bad.resize(bad.size() / 2);
        s.clear();
        gcwalk::append_frame_chunk(s, payload.size(), bad);
        refused(s, "chunk 0 at offset 0x0");
    }
    SECTION("the second chunk is named by its index and offset") {
        std::vector<uint8_t> s = good;
        std::vector<uint8_t> bad = stream;
        bad[1] ^= 0x01; // header check bits
        gcwalk::append_frame_chunk(s, payload.size(), bad);
        refused(
            s, "chunk 1 at offset 0x" + [&] {
                char buf[32];
                std::snprintf(buf, sizeof buf, "%zx", good.size());
                return std::string(buf);
            }());
    }
}

TEST_CASE("every single-byte corruption of a stream is refused or inflates in bounds", "[chunks]") {
    // The checksum catches what the decoder cannot: no corruption may yield other bytes silently.
    const std::vector<uint8_t> payload = read_file(GCWALK_FIXTURE_DIR "/rs4gc.bin");
    for (int strategy : {Z_DEFAULT_STRATEGY, Z_FIXED}) {
        const std::vector<uint8_t> stream = zlib_compress(payload, 9, strategy);
        int refused = 0;
        for (size_t i = 0; i < stream.size(); ++i)
            for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
                std::vector<uint8_t> bad = stream;
                bad[i] ^= flip;
                std::vector<uint8_t> s;
                gcwalk::append_frame_chunk(s, payload.size(), bad);
                auto got = gcwalk::read_frame_chunks(s, "t");
                if (got)
                    CHECK(*got == payload);
                else
                    ++refused;
            }
        CHECK(refused > 0);
    }
}

TEST_CASE("memory grows with what a stream produces, not with what it declares", "[chunks]") {
    std::mt19937 rng(11);
    std::vector<uint8_t> payload(1000);
    for (uint8_t& b : payload) b = static_cast<uint8_t>(rng());
    const std::vector<uint8_t> stream = zlib_compress(payload, 6, Z_DEFAULT_STRATEGY);
    const uint64_t claim = gcwalk::max_inflated_size(stream.size()) - 1; // allowed by the ratio
    REQUIRE(claim > 1'000'000);
    std::vector<uint8_t> out;
    gcwalk::Status st = gcwalk::inflate_zlib(stream, claim, out);
    REQUIRE_FALSE(st);
    CHECK(st.message().find("inflates to 1000 bytes") != std::string::npos);
    CHECK(out.empty());                 // nothing of a refused stream is kept
    CHECK(out.capacity() <= 64 * 1024); // and the claim was never reserved
}

TEST_CASE("the Adler-32 matches zlib's at every length, alignment and byte value", "[chunks]") {
    // Stored blocks (level 0) inflate by copying, so the checksum is what is under test: zlib
    // writes its own Adler-32, which the inflater's must equal. The output starts at offsets
    // 0..64 into the vector (the chunks before it), so every alignment of the blocks is seen.
    std::mt19937 rng(5);
    std::vector<size_t> lengths;
    for (size_t n = 0; n <= 100; ++n) lengths.push_back(n);
    for (size_t n : {5551, 5552, 5553, 16383, 16384, 16385, 16415, 16416, 16417, 32799, 100003})
        lengths.push_back(n);
    for (int fill : {-1, 0xff, 0x00, -2}) {
        for (size_t n : lengths) {
            std::vector<uint8_t> payload(n);
            for (size_t i = 0; i < n; ++i)
                payload[i] = fill == -1   ? static_cast<uint8_t>(rng())
                             : fill == -2 ? static_cast<uint8_t>(i % 97 < 60 ? 0xff : rng())
                                          : static_cast<uint8_t>(fill);
            const std::vector<uint8_t> stream = zlib_compress(payload, 0, Z_DEFAULT_STRATEGY);
            for (size_t offset = 0; offset <= 64; ++offset) {
                INFO(n << " bytes of " << fill << " at offset " << offset);
                std::vector<uint8_t> out(offset, 0x11);
                const gcwalk::Status st = gcwalk::inflate_zlib(stream, n, out);
                INFO(st.message());
                REQUIRE(st);
                REQUIRE(
                    std::equal(out.begin() + offset, out.end(), payload.begin(), payload.end()));
            }
        }
    }
    // Long runs of 0xff, the largest sums the blocks add up.
    const std::vector<uint8_t> ones((1u << 20) + 7, 0xff);
    const std::vector<uint8_t> stream = zlib_compress(ones, 0, Z_DEFAULT_STRATEGY);
    for (size_t offset : {0, 1, 7, 15, 16, 31, 33}) {
        std::vector<uint8_t> out(offset, 0);
        REQUIRE(gcwalk::inflate_zlib(stream, ones.size(), out));
        CHECK(out.size() == offset + ones.size());
    }
    // A checksum that differs is reported with the value computed, zlib's.
    std::vector<uint8_t> bad = zlib_compress(ones, 1, Z_DEFAULT_STRATEGY);
    bad[bad.size() - 1] ^= 1;
    std::vector<uint8_t> out;
    const gcwalk::Status st = gcwalk::inflate_zlib(bad, ones.size(), out);
    REQUIRE_FALSE(st);
    char want[16];
    std::snprintf(want, sizeof want, "%lx",
                  adler32(1, ones.data(), static_cast<uInt>(ones.size())));
    INFO(st.message());
    CHECK(st.message().find(want) != std::string::npos);
}

TEST_CASE("matches at every short distance and length inflate exactly, up to the last byte",
          "[chunks]") {
    // Data repeating with period d makes zlib emit matches d (or a multiple) back, overlapping
    // when d < 258; sizes around a few values put the last match's end at every place relative
    // to the declared size (where the block copies may not write past it), and a chunk before
    // makes the output start inside the vector.
    std::mt19937 rng(3);
    std::vector<uint32_t> distances;
    for (uint32_t d = 1; d <= 40; ++d) distances.push_back(d);
    for (uint32_t d : {47, 48, 63, 64, 65, 100, 257, 258, 1000}) distances.push_back(d);
    const std::vector<uint8_t> before = chunk(std::vector<uint8_t>(37, 0x42));
    for (uint32_t d : distances) {
        std::vector<uint8_t> pattern(d);
        for (uint8_t& b : pattern) b = static_cast<uint8_t>(rng());
        std::vector<size_t> sizes;
        for (size_t n = d + 1; n <= d + 300; n += 1 + n % 3) sizes.push_back(n);
        for (size_t n : {4096, 4097, 8191, 70000}) sizes.push_back(d + n);
        for (size_t n : sizes) {
            std::vector<uint8_t> payload(n);
            for (size_t i = 0; i < n; ++i) payload[i] = pattern[i % d];
            payload[n / 2] ^= 0x5a; // a literal inside the run
            for (int level : {1, 9}) {
                INFO("distance " << d << ", " << n << " bytes, level " << level);
                std::vector<uint8_t> section = before;
                const std::vector<uint8_t> c = chunk(payload, level);
                section.insert(section.end(), c.begin(), c.end());
                auto got = gcwalk::read_frame_chunks(section, "t");
                REQUIRE(got);
                REQUIRE(got->size() == 37 + n);
                REQUIRE(std::equal(got->begin() + 37, got->end(), payload.begin()));
            }
        }
    }
}

TEST_CASE("codes longer than the decoding table's prefixes are decoded", "[chunks]") {
    // Byte values of very unequal frequencies: Huffman codes up to 15 bits.
    std::mt19937 rng(9);
    std::vector<uint8_t> payload(200000);
    for (uint8_t& b : payload) {
        unsigned v = 0;
        while (v < 255 && (rng() & 1u)) ++v; // P(v) ~ 2^-(v+1)
        b = static_cast<uint8_t>(v ^ (rng() % 64 == 0 ? rng() % 256 : 0));
    }
    for (int strategy : {Z_HUFFMAN_ONLY, Z_DEFAULT_STRATEGY}) {
        auto got = gcwalk::read_frame_chunks(chunk(payload, 9, strategy), "t");
        REQUIRE(got);
        CHECK(*got == payload);
    }
}
