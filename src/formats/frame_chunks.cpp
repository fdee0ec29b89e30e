// The `.gcwalk_frames` chunk framing and a zlib/deflate decoder (RFC 1950, RFC 1951) written for
// it: every read bounds-checked, every code table validated, the output never past the size the
// chunk declares.
#include <gcwalk/detail/format.hpp>
#include <gcwalk/detail/prefault.hpp>
#include <gcwalk/frame_chunks.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace gcwalk {

namespace {

// Reads bits least significant first, as deflate packs them, from a 64-bit buffer refilled
// eight bytes at a time. Past the end, reads give zeros and, once such bits are consumed, set
// `overrun`: callers check it where a truncated stream must be refused.
class BitReader {
  public:
    explicit BitReader(std::span<const uint8_t> in) : in_(in) {}

    uint32_t bits(unsigned n) noexcept { // n <= 32
        const uint32_t v = peek(n);
        consume(n);
        return v;
    }
    // Up to 32 bits without consuming them.
    uint32_t peek(unsigned n) noexcept {
        if (count_ < n) refill();
        return static_cast<uint32_t>(buffer_ & ((uint64_t{1} << n) - 1));
    }
    void consume(unsigned n) noexcept {
        buffer_ >>= n;
        count_ -= n;
        // Bits fetched from past the end are the top `past_` bytes' worth.
        if (past_ != 0 && count_ < 8 * past_) overrun_ = true;
    }
    // Drops the bits left in the current byte (a stored block starts on a byte boundary).
    void align() noexcept {
        const unsigned drop = count_ % 8;
        buffer_ >>= drop;
        count_ -= drop;
    }
    // The byte position of the next unread whole byte (after align()).
    size_t byte_pos() const noexcept { return pos_ - count_ / 8; }
    // Moves to byte position p, dropping the bit buffer (after align()).
    void seek(size_t p) noexcept {
        pos_ = p;
        buffer_ = 0;
        count_ = 0;
        past_ = 0;
    }
    bool overrun() const noexcept { return overrun_; }
    size_t size() const noexcept { return in_.size(); }
    std::span<const uint8_t> bytes() const noexcept { return in_; }

  private:
    // At least 56 bits in the buffer: whole bytes, eight at a time while the input has them.
    void refill() noexcept {
        if (pos_ + 8 <= in_.size()) {
            uint64_t word;
            std::memcpy(&word, in_.data() + pos_, 8);
            const unsigned take = (63 - count_) / 8; // whole bytes that fit
            buffer_ |= (take == 8 ? word : word & ((uint64_t{1} << (8 * take)) - 1)) << count_;
            pos_ += take;
            count_ += 8 * take;
            return;
        }
        while (count_ <= 56) {
            uint64_t byte = 0;
            if (pos_ < in_.size())
                byte = in_[pos_];
            else
                ++past_;
            ++pos_;
            buffer_ |= byte << count_;
            count_ += 8;
        }
    }

    std::span<const uint8_t> in_;
    size_t pos_ = 0;
    uint64_t buffer_ = 0;
    unsigned count_ = 0;
    unsigned past_ = 0; // bytes fetched into the buffer from past the end
    bool overrun_ = false;
};

// A canonical Huffman code (RFC 1951 3.2.2) from its code lengths, decoded through a table of
// kFastBits-bit prefixes; longer codes are decoded from the counts, walking the bits of one
// 15-bit peek.
class Huffman {
  public:
    static constexpr unsigned kMaxBits = 15, kFastBits = 10;

    // False when the lengths over-subscribe the code (more codes than bit patterns).
    // Incomplete codes are accepted; a pattern no code has is an error when it is read.
    bool build(const uint8_t* lengths, unsigned n) noexcept {
        count_.fill(0);
        for (unsigned i = 0; i < n; ++i) ++count_[lengths[i]];
        count_[0] = 0;
        int left = 1;
        for (unsigned len = 1; len <= kMaxBits; ++len) {
            left = 2 * left - count_[len];
            if (left < 0) return false;
        }
        // Symbols sorted by code length, then by symbol: the canonical order.
        std::array<uint16_t, kMaxBits + 2> offset{};
        for (unsigned len = 1; len <= kMaxBits; ++len)
            offset[len + 1] = static_cast<uint16_t>(offset[len] + count_[len]);
        for (unsigned i = 0; i < n; ++i)
            if (lengths[i] != 0) sorted_[offset[lengths[i]]++] = static_cast<uint16_t>(i);
        // The prefix table: for each kFastBits-bit pattern (read order), the symbol and length
        // of the code it starts with, or 0 when that code is longer (or absent).
        fast_.fill(0);
        uint32_t code = 0;
        unsigned index = 0;
        for (unsigned len = 1; len <= kFastBits; ++len) {
            for (unsigned k = 0; k < count_[len]; ++k, ++code, ++index) {
                // The code's bits arrive most significant first: reversed in the reader's order.
                uint32_t reversed = 0;
                for (unsigned b = 0; b < len; ++b) reversed |= ((code >> b) & 1u) << (len - 1 - b);
                for (uint32_t fill = reversed; fill < (1u << kFastBits); fill += 1u << len)
                    fast_[fill] = static_cast<uint16_t>(sorted_[index] << 4 | len);
            }
            code <<= 1;
        }
        return true;
    }

    // The next symbol, or -1 for a bit pattern that is no code.
    int decode(BitReader& r) const noexcept {
        const uint16_t e = fast_[r.peek(kFastBits)];
        if (e != 0) {
            r.consume(e & 15u);
            return e >> 4;
        }
        // Slow path: canonical decoding of the next kMaxBits bits, one bit after the other (codes
        // of any length). What is consumed is what reading those bits one at a time consumed: the
        // code's bits, or kMaxBits of them for a pattern that is no code.
        const uint32_t next = r.peek(kMaxBits);
        int code = 0, first = 0, index = 0;
        for (unsigned len = 1; len <= kMaxBits; ++len) {
            code |= static_cast<int>((next >> (len - 1)) & 1u);
            const int n = count_[len];
            if (code - first < n) {
                r.consume(len);
                return sorted_[index + code - first];
            }
            index += n;
            first = (first + n) << 1;
            code <<= 1;
        }
        r.consume(kMaxBits);
        return -1;
    }

  private:
    std::array<uint16_t, kMaxBits + 1> count_{};
    std::array<uint16_t, 288> sorted_{};
    std::array<uint16_t, 1u << kFastBits> fast_{};
};

constexpr uint16_t kLengthBase[29] = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
                                      15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
                                      67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr uint8_t kLengthExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr uint16_t kDistBase[30] = {1,    2,    3,    4,    5,    7,    9,    13,    17,    25,
                                    33,   49,   65,   97,   129,  193,  257,  385,   513,   769,
                                    1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr uint8_t kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                    6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

// Inflating one deflate stream into `out`, up to `limit` bytes in all (the output's final size).
// The output is written through a pointer into `out`, which is resized (doubling, zero-filled)
// ahead of the writes and cut to what was written at the end. A match is copied in 8- or 16-byte
// blocks that may write up to kSlack bytes past its end, inside the vector's size, when the
// vector has that room (bytes the next writes replace, or the final resize cuts); near the
// declared size, where it has not, exactly.
class Inflater {
  public:
    Inflater(BitReader& r, std::vector<uint8_t>& out, size_t start, uint64_t limit)
        : r_(r), out_(out), start_(start), limit_(limit) {}

    Status run() {
        bool last = false;
        Status st;
        while (!last && st) {
            last = r_.bits(1) != 0;
            const uint32_t type = r_.bits(2);
            if (type == 0)
                st = stored();
            else if (type == 1)
                st = fixed();
            else if (type == 2)
                st = dynamic();
            else
                st = Error{"a deflate block of the reserved type 3"};
            if (st && r_.overrun()) st = Error{"the deflate stream is truncated"};
        }
        out_.resize(start_ + pos_);
        return st;
    }

  private:
    static constexpr uint64_t kSlack = 16;

    Status too_long() const {
        return Error{"the stream inflates past its declared size of " + std::to_string(limit_) +
                     " bytes"};
    }
    // Room for n more bytes (the caller checked pos_ + n <= limit_): the output doubled, at
    // least 4 KiB, never past the declared size. Memory grows with what the stream really
    // produces, not with what it claims.
    void reserve(uint64_t n) {
        if (pos_ + n <= room_) return;
        grow(n);
    }
    [[gnu::noinline]] void grow(uint64_t n) {
        const uint64_t want = std::max<uint64_t>({pos_ + n, 4096, 2 * pos_});
        const size_t size = start_ + std::min<uint64_t>(limit_, want);
        // Capacity doubles over the whole payload (the chunks before this stream's included):
        // growing it by this stream's step alone copied every earlier chunk at each step.
        if (size > out_.capacity()) {
            // A new buffer whose pages are all faulted in at once, the copied bytes' included,
            // before the bytes so far are copied into it (vector::reserve copied them into
            // fresh pages, one fault a page).
            std::vector<uint8_t> bigger;
            bigger.reserve(std::max<size_t>(size, 2 * out_.capacity()));
            prefault(bigger.data(), size);
            bigger.assign(out_.begin(), out_.end());
            out_.swap(bigger);
        } else {
            // The new bytes' pages faulted in at once, not one by one.
            prefault(out_.data() + out_.size(), size - out_.size());
        }
        out_.resize(size);
        base_ = out_.data() + start_;
        room_ = size - start_;
    }

    Status stored() {
        r_.align();
        const size_t p = r_.byte_pos();
        const std::span<const uint8_t> in = r_.bytes();
        if (p + 4 > in.size()) return Error{"a stored block's length is truncated"};
        const uint16_t len = static_cast<uint16_t>(in[p] | in[p + 1] << 8);
        const uint16_t nlen = static_cast<uint16_t>(in[p + 2] | in[p + 3] << 8);
        if (static_cast<uint16_t>(~nlen) != len)
            return Error{"a stored block's length " + std::to_string(len) +
                         " does not match its complement"};
        if (p + 4 + len > in.size()) return Error{"a stored block is truncated"};
        if (pos_ + len > limit_) return too_long();
        reserve(len);
        if (len != 0) std::memcpy(base_ + pos_, in.data() + p + 4, len);
        pos_ += len;
        r_.seek(p + 4 + len);
        return {};
    }

    Status fixed() {
        uint8_t lengths[288 + 30];
        std::memset(lengths, 8, 144);
        std::memset(lengths + 144, 9, 112);
        std::memset(lengths + 256, 7, 24);
        std::memset(lengths + 280, 8, 8);
        std::memset(lengths + 288, 5, 30);
        Huffman lit, dist;
        lit.build(lengths, 288);
        dist.build(lengths + 288, 30);
        return codes(lit, dist);
    }

    Status dynamic() {
        const unsigned nlit = r_.bits(5) + 257, ndist = r_.bits(5) + 1, nclen = r_.bits(4) + 4;
        if (nlit > 286)
            return Error{"a dynamic block declares " + std::to_string(nlit) +
                         " literal/length codes (at most 286)"};
        if (ndist > 30)
            return Error{"a dynamic block declares " + std::to_string(ndist) +
                         " distance codes (at most 30)"};
        static constexpr uint8_t kOrder[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                               11, 4,  12, 3, 13, 2, 14, 1, 15};
        uint8_t clen[19] = {};
        for (unsigned i = 0; i < nclen; ++i) clen[kOrder[i]] = static_cast<uint8_t>(r_.bits(3));
        Huffman lencode;
        if (!lencode.build(clen, 19))
            return Error{"a dynamic block's code-length code is over-subscribed"};
        uint8_t lengths[286 + 30] = {};
        for (unsigned i = 0; i < nlit + ndist;) {
            const int sym = lencode.decode(r_);
            if (r_.overrun()) return Error{"a dynamic block's code lengths are truncated"};
            if (sym < 0) return Error{"a dynamic block's code lengths use a code that is absent"};
            if (sym < 16) {
                lengths[i++] = static_cast<uint8_t>(sym);
                continue;
            }
            uint8_t value = 0;
            unsigned repeat;
            if (sym == 16) {
                if (i == 0) return Error{"a dynamic block repeats a code length before the first"};
                value = lengths[i - 1];
                repeat = 3 + r_.bits(2);
            } else if (sym == 17) {
                repeat = 3 + r_.bits(3);
            } else {
                repeat = 11 + r_.bits(7);
            }
            if (i + repeat > nlit + ndist)
                return Error{"a dynamic block's code lengths run past its codes"};
            while (repeat-- > 0) lengths[i++] = value;
        }
        if (lengths[256] == 0) return Error{"a dynamic block has no end-of-block code"};
        Huffman lit, dist;
        if (!lit.build(lengths, nlit))
            return Error{"a dynamic block's literal/length code is over-subscribed"};
        if (!dist.build(lengths + nlit, ndist))
            return Error{"a dynamic block's distance code is over-subscribed"};
        return codes(lit, dist);
    }

    Status codes(const Huffman& lit, const Huffman& dist) {
        for (;;) {
            const int sym = lit.decode(r_);
            if (r_.overrun()) return Error{"the deflate stream is truncated"};
            if (sym < 0) return Error{"a literal/length code that is absent"};
            if (sym < 256) {
                if (pos_ == limit_) return too_long();
                reserve(1);
                base_[pos_++] = static_cast<uint8_t>(sym);
                continue;
            }
            if (sym == 256) return {};
            const unsigned li = static_cast<unsigned>(sym) - 257;
            if (li >= 29) return Error{"the invalid length code " + std::to_string(sym)};
            const uint32_t len = kLengthBase[li] + r_.bits(kLengthExtra[li]);
            const int ds = dist.decode(r_);
            if (r_.overrun()) return Error{"the deflate stream is truncated"};
            if (ds < 0) return Error{"a distance code that is absent"};
            if (ds >= 30) return Error{"the invalid distance code " + std::to_string(ds)};
            const uint32_t d = kDistBase[ds] + r_.bits(kDistExtra[ds]);
            if (d > pos_)
                return Error{"a distance of " + std::to_string(d) + " back, with only " +
                             std::to_string(pos_) + " bytes out"};
            if (pos_ + len > limit_) return too_long();
            reserve(std::min<uint64_t>(len + kSlack, limit_ - pos_));
            uint8_t* const to = base_ + pos_;
            if (room_ - pos_ >= len + kSlack)
                copy_fast(to, d, len);
            else
                copy_exact(to, d, len);
            pos_ += len;
        }
    }

    // The match of `len` bytes `d` back (1 <= d, with d bytes before `to` in the output), with
    // room for kSlack bytes more after it. Every block reads bytes before the one it writes, so
    // an overlapping match repeats its pattern as it must: a block of b bytes copied from b or
    // more back reads only bytes written already (by earlier output or earlier blocks).
    static void copy_fast(uint8_t* to, uint32_t d, uint32_t len) noexcept {
        const uint8_t* const from = to - d;
        if (d >= 16) {
            for (uint32_t k = 0; k < len; k += 16) std::memcpy(to + k, to + k - d, 16);
        } else if (d >= 8) {
            for (uint32_t k = 0; k < len; k += 8) std::memcpy(to + k, to + k - d, 8);
        } else if (d == 1) {
            std::memset(to, *from, len);
        } else {
            // 2 <= d < 8: the first 8 bytes one at a time; the output then repeats with period
            // `step`, the least multiple of d that is at least 8 (at most 14, less than 8 + d, so
            // `to + 8 - step` is not before `to - d`), copied in 8-byte blocks from step back.
            for (unsigned k = 0; k < 8; ++k) to[k] = from[k];
            const uint32_t step = d * ((8 + d - 1) / d);
            for (uint32_t k = 8; k < len; k += 8) std::memcpy(to + k, to + k - step, 8);
        }
    }
    // The same without writing past the match's end.
    static void copy_exact(uint8_t* to, uint32_t d, uint32_t len) noexcept {
        const uint8_t* const from = to - d;
        if (d >= len)
            std::memcpy(to, from, len);
        else if (d == 1)
            std::memset(to, *from, len);
        else
            for (uint32_t k = 0; k < len; ++k) to[k] = from[k]; // overlapping: a repeat
    }

    BitReader& r_;
    std::vector<uint8_t>& out_;
    size_t start_;
    uint64_t limit_;
    uint64_t pos_ = 0;  // bytes written (at base_)
    uint64_t room_ = 0; // bytes the vector holds from base_ (out_.size() - start_ once grown)
    uint8_t* base_ = nullptr;
};

// Adler-32 (RFC 1950 8.2): a = 1 + the bytes' sum, b = the sum of the a's after each byte, both
// mod 65521. With SSE2, 32-byte blocks at a time: over K blocks of a run starting at (a0, b0),
//   a = a0 + S,  b = b0 + 32 K a0 + 32 P + W,
// where S is the run's byte sum, P the sum over blocks of the bytes' sum before that block, and
// W the sum of each byte times its weight, 32 down to 1 within its block.
uint32_t adler32(const uint8_t* p, size_t n) noexcept {
    constexpr uint32_t kMod = 65521;
    uint32_t a = 1, b = 0;
#if defined(__SSE2__)
    // At most kRun = 512 blocks (16 KiB) a run, the sums in 32-bit lanes: `sum` (S) gains two
    // _mm_sad_epu8 sums of at most 8 * 255 each a block in its lanes 0 and 2, so at most
    // 4080 K = 2.1e6 a lane; `prior` (P) gains `sum` once a block, at most 4080 * K (K - 1) / 2
    // = 5.4e8 a lane; `weighted` (W) gains, a block, four _mm_madd_epi16 lanes of two products of
    // at most 32 * 255 each, at most 4 * 2 * 32 * 255 = 65280 a lane, 3.4e7 in all: everything
    // under 2^32. The lanes are added in 64 bits and reduced at each run's end (a0, b0 < 65521).
    constexpr size_t kRun = 512;
    const __m128i zero = _mm_setzero_si128();
    const __m128i w0 = _mm_set_epi16(25, 26, 27, 28, 29, 30, 31, 32); // bytes 0..7 of a block
    const __m128i w1 = _mm_set_epi16(17, 18, 19, 20, 21, 22, 23, 24); // 8..15
    const __m128i w2 = _mm_set_epi16(9, 10, 11, 12, 13, 14, 15, 16);  // 16..23
    const __m128i w3 = _mm_set_epi16(1, 2, 3, 4, 5, 6, 7, 8);         // 24..31
    while (n >= 32) {
        const size_t blocks = std::min(n / 32, kRun);
        __m128i sum = zero, prior = zero, weighted = zero;
        for (size_t k = 0; k < blocks; ++k) {
            const __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32 * k));
            const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32 * k + 16));
            prior = _mm_add_epi32(prior, sum);
            sum = _mm_add_epi32(sum, _mm_add_epi32(_mm_sad_epu8(v0, zero), _mm_sad_epu8(v1, zero)));
            const __m128i m0 = _mm_add_epi32(_mm_madd_epi16(_mm_unpacklo_epi8(v0, zero), w0),
                                             _mm_madd_epi16(_mm_unpackhi_epi8(v0, zero), w1));
            const __m128i m1 = _mm_add_epi32(_mm_madd_epi16(_mm_unpacklo_epi8(v1, zero), w2),
                                             _mm_madd_epi16(_mm_unpackhi_epi8(v1, zero), w3));
            weighted = _mm_add_epi32(weighted, _mm_add_epi32(m0, m1));
        }
        alignas(16) uint32_t s[4], pr[4], w[4];
        _mm_store_si128(reinterpret_cast<__m128i*>(s), sum);
        _mm_store_si128(reinterpret_cast<__m128i*>(pr), prior);
        _mm_store_si128(reinterpret_cast<__m128i*>(w), weighted);
        const uint64_t S = uint64_t{s[0]} + s[1] + s[2] + s[3];
        const uint64_t P = uint64_t{pr[0]} + pr[1] + pr[2] + pr[3];
        const uint64_t W = uint64_t{w[0]} + w[1] + w[2] + w[3];
        b = static_cast<uint32_t>((b + 32 * blocks * a + 32 * P + W) % kMod);
        a = static_cast<uint32_t>((a + S) % kMod);
        p += 32 * blocks;
        n -= 32 * blocks;
    }
#endif
    while (n > 0) {
        const size_t block = n < 5552 ? n : 5552; // no overflow of b within a block
        for (size_t i = 0; i < block; ++i) {
            a += p[i];
            b += a;
        }
        a %= kMod;
        b %= kMod;
        p += block;
        n -= block;
    }
    return b << 16 | a;
}

// A ULEB128 at *pos of `in` (at most 10 bytes, a value that fits 64 bits); false when truncated
// or too long.
bool read_uleb(std::span<const uint8_t> in, size_t* pos, uint64_t* out) noexcept {
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= in.size()) return false;
        const uint8_t byte = in[(*pos)++];
        const uint64_t part = byte & 0x7fu;
        if (shift == 63 && part > 1) return false;
        v |= part << shift;
        if (!(byte & 0x80u)) {
            *out = v;
            return true;
        }
    }
    return false;
}

void write_uleb(std::vector<uint8_t>& out, uint64_t v) {
    do {
        uint8_t byte = v & 0x7fu;
        v >>= 7;
        if (v != 0) byte |= 0x80u;
        out.push_back(byte);
    } while (v != 0);
}

} // namespace

Status inflate_zlib(std::span<const uint8_t> in, uint64_t size, std::vector<uint8_t>& out) {
    if (in.size() < 6) return Error{"a zlib stream of " + std::to_string(in.size()) + " bytes"};
    const uint8_t cmf = in[0], flg = in[1];
    if ((cmf & 0x0fu) != 8 || (cmf >> 4) > 7)
        return Error{"a zlib header that is not deflate with a window of at most 32 KiB (CMF " +
                     hex(cmf) + ")"};
    if ((cmf * 256u + flg) % 31 != 0) return Error{"a zlib header whose check bits are wrong"};
    if (flg & 0x20u) return Error{"a zlib stream that needs a preset dictionary"};
    const size_t start = out.size();
    BitReader r(in.subspan(2, in.size() - 2 - 4));
    Inflater inflater(r, out, start, size);
    if (auto st = inflater.run(); !st) {
        out.resize(start);
        return st;
    }
    r.align();
    if (r.byte_pos() != r.size()) {
        out.resize(start);
        return Error{"bytes after the deflate stream's end, before its checksum"};
    }
    if (out.size() - start != size) {
        const uint64_t got = out.size() - start;
        out.resize(start);
        return Error{"the stream inflates to " + std::to_string(got) + " bytes, not the " +
                     std::to_string(size) + " declared"};
    }
    const uint8_t* tail = in.data() + in.size() - 4;
    const uint32_t want = uint32_t{tail[0]} << 24 | uint32_t{tail[1]} << 16 |
                          uint32_t{tail[2]} << 8 | uint32_t{tail[3]};
    const uint32_t got = adler32(out.data() + start, size);
    if (got != want) {
        out.resize(start);
        return Error{"the inflated bytes' Adler-32 is " + hex(got) + ", the stream says " +
                     hex(want)};
    }
    return {};
}

Status read_frame_chunks_from(std::span<const uint8_t> section, std::string_view name, size_t* pos,
                              uint32_t* chunk, std::vector<uint8_t>& payload, uint64_t until,
                              uint64_t max_total) {
    for (; *pos < section.size() && payload.size() < until; ++*chunk) {
        const size_t at = *pos;
        auto where = [&](const std::string& what) {
            return Error{std::string(name) + ": .gcwalk_frames chunk " + std::to_string(*chunk) +
                         " at offset " + hex(at) + ": " + what};
        };
        uint64_t original = 0, compressed = 0;
        if (!read_uleb(section, pos, &original))
            return where("its original size (ULEB128) is truncated or too long");
        if (!read_uleb(section, pos, &compressed))
            return where("its compressed size (ULEB128) is truncated or too long");
        if (compressed > section.size() - *pos)
            return where("its compressed size " + std::to_string(compressed) + " runs past the " +
                         "section's end (" + std::to_string(section.size() - *pos) +
                         " bytes left)");
        if (original > max_inflated_size(compressed))
            return where("it claims " + std::to_string(original) + " bytes from " +
                         std::to_string(compressed) + " compressed, more than deflate can produce");
        if (payload.size() > max_total || original > max_total - payload.size())
            return where("its " + std::to_string(original) + " bytes take the payload past the " +
                         "limit of " + std::to_string(max_total) + " bytes");
        if (auto st = inflate_zlib(section.subspan(*pos, compressed), original, payload); !st)
            return where(st.message());
        *pos += compressed;
    }
    return {};
}

Expected<std::vector<uint8_t>> read_frame_chunks(std::span<const uint8_t> section,
                                                 std::string_view name, uint64_t max_total) {
    std::vector<uint8_t> payload;
    size_t pos = 0;
    uint32_t chunk = 0;
    if (auto st =
            read_frame_chunks_from(section, name, &pos, &chunk, payload, UINT64_MAX, max_total);
        !st)
        return Error{st.message()};
    return payload;
}

void append_frame_chunk(std::vector<uint8_t>& section, uint64_t original_size,
                        std::span<const uint8_t> zlib_stream) {
    write_uleb(section, original_size);
    write_uleb(section, zlib_stream.size());
    section.insert(section.end(), zlib_stream.begin(), zlib_stream.end());
}

} // namespace gcwalk
