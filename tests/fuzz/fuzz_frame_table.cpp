// libFuzzer target: arbitrary bytes as a .gcwalk_frames payload. What parse_frame_table accepts
// must write back to the same bytes, index (or be refused with a message) without a crash, and
// answer every query of the index, the cold path's version 3 view of its records included.
#include <gcwalk/frame_index.hpp>
#include <gcwalk/frame_table.hpp>
#include <gcwalk/statepoint.hpp>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto table = gcwalk::parse_frame_table({data, size}, "fuzz");
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
