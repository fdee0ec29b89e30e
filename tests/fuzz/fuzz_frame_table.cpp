// libFuzzer target: arbitrary bytes as a .gcwalk_frames payload. What parse_frame_table accepts
// must write back to the same bytes, index (or be refused with a message) without a crash, and
// answer every query of the index, the cold path's version 3 view of its records included. The
// same bytes in a section of two chunks split where the cold tables start, read as the registry
// reads it (the cold tables left compressed): accepted, with its cold tables inflating to the
// same version 3 view, exactly when the whole payload is.
#include <gcwalk/frame_chunks.hpp>
#include <gcwalk/frame_index.hpp>
#include <gcwalk/frame_table.hpp>
#include <gcwalk/statepoint.hpp>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace {

// `n` bytes as one zlib stream of stored (uncompressed) deflate blocks.
std::vector<uint8_t> stored_stream(const uint8_t* p, size_t n) {
    std::vector<uint8_t> z = {0x78, 0x01};
    size_t at = 0;
    do {
        const size_t len = n - at < 65535 ? n - at : 65535;
        z.push_back(at + len == n ? 1 : 0); // BFINAL, BTYPE 00
        z.push_back(static_cast<uint8_t>(len)), z.push_back(static_cast<uint8_t>(len >> 8));
        z.push_back(static_cast<uint8_t>(~len)), z.push_back(static_cast<uint8_t>(~len >> 8));
        z.insert(z.end(), p + at, p + at + len);
        at += len;
    } while (at < n);
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; ++i) a = (a + p[i]) % 65521, b = (b + a) % 65521;
    for (int shift = 24; shift >= 0; shift -= 8)
        z.push_back(static_cast<uint8_t>((b << 16 | a) >> shift));
    return z;
}

void check_deferred(const uint8_t* data, size_t size,
                    const gcwalk::Expected<gcwalk::FrameTable>& whole) {
    const uint64_t cold = gcwalk::frame_table_cold_offset({data, size});
    if (cold == 0 || cold >= size) return; // no valid header, or no cold tables
    std::vector<uint8_t> section;
    gcwalk::append_frame_chunk(section, cold, stored_stream(data, cold));
    gcwalk::append_frame_chunk(section, size - cold, stored_stream(data + cold, size - cold));
    auto lazy = gcwalk::read_frame_table_section(section, "fuzz", true);
    if (!lazy) {
        if (whole) std::abort(); // the hot tables of a valid table are valid
        return;
    }
    if (!lazy->deferred) std::abort();
    auto v3 = gcwalk::v3_from_frame_table(*lazy);
    if (!whole) {
        if (v3) std::abort(); // then the cold tables are what is wrong
        return;
    }
    auto expected = gcwalk::v3_from_frame_table(*whole);
    if (!v3 || !expected || *v3 != *expected) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto table = gcwalk::parse_frame_table({data, size}, "fuzz");
    check_deferred(data, size, table);
    if (!table) return 0;
    auto again = gcwalk::write_frame_table(*table);
    if (!again || again->size() != size || std::memcmp(again->data(), data, size) != 0)
        std::abort();
    gcwalk::ImageStackMaps img;
    img.name = "fuzz";
    img.load_bias = 0x10000;
    img.table = std::make_shared<const gcwalk::FrameTable>(std::move(*table));
    std::vector<gcwalk::ImageStackMaps> images;
    images.push_back(std::move(img));
    auto index = gcwalk::FrameIndex::build(std::move(images));
    if (!index) return 0;
    uint64_t sum = 0;
    for (const gcwalk::CallSite& cs : index->call_sites()) {
        if (index->find(cs.return_address()) == nullptr) std::abort();
        for (const gcwalk::RootPair& p : index->roots(cs)) sum += p.base.bits ^ p.derived.bits;
        sum += static_cast<uint64_t>(index->rule(cs).cfa_offset);
        gcwalk::RecordRef ref;
        if (!index->record(cs, &ref)) continue;
        const gcwalk::StackMapBlob& blob = index->blob(ref);
        for (uint16_t i = 0; i < ref.view.num_locations(); ++i) {
            const gcwalk::Location l = ref.view.location(i);
            if (l.kind == gcwalk::LocationKind::Constant ||
                l.kind == gcwalk::LocationKind::ConstantIndex)
                sum += gcwalk::constant_value(blob, l);
        }
        for (uint16_t i = 0; i < ref.view.num_live_outs(); ++i)
            sum += ref.view.live_out(i).dwarf_reg;
    }
    for (const gcwalk::FrameRecord& f : index->frames())
        sum += index->function_containing(f.function_address) == &f ? 0 : 1;
    return sum == 0x5eed ? 1 : 0; // keeps the reads; libFuzzer ignores the value
}
