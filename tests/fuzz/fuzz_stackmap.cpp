// libFuzzer target for the stack map formats: any bytes go through the v3 section parser, every
// accessor of what it accepts, statepoint decoding of every record, and the flat v2 reader.
#include <gcwalk/stackmap.hpp>
#include <gcwalk/stackmap_v2.hpp>
#include <gcwalk/statepoint.hpp>

#include <cstddef>
#include <cstdint>

namespace {

volatile uint64_t sink; // keeps the reads from being optimised away

void walk(const gcwalk::StackMapBlob& blob) {
    uint64_t acc = blob.version() + blob.size_bytes();
    for (uint32_t f = 0; f < blob.num_functions(); ++f) {
        const gcwalk::FunctionEntry fe = blob.function(f);
        acc += fe.address + fe.stack_size + fe.record_count + blob.first_record_of(f);
    }
    for (uint32_t c = 0; c < blob.num_constants(); ++c) acc += blob.constant(c);
    for (uint32_t r = 0; r < blob.num_records(); ++r) {
        const gcwalk::RecordView rec = blob.record(r);
        acc += rec.id() + rec.instruction_offset() + rec.flags() + rec.size_bytes();
        for (uint16_t l = 0; l < rec.num_locations(); ++l) {
            const gcwalk::Location loc = rec.location(l);
            acc += loc.size + loc.dwarf_reg + static_cast<uint32_t>(loc.offset) +
                   gcwalk::constant_value(blob, loc);
            acc += *gcwalk::to_string(loc.kind);
        }
        for (uint16_t i = 0; i < rec.num_live_outs(); ++i)
            acc += rec.live_out(i).dwarf_reg + rec.live_out(i).size;
        auto sp = gcwalk::decode_statepoint(blob, rec, "fuzz");
        if (sp) {
            acc += sp->num_pairs + sp->num_gc_allocas + sp->num_deopt;
            for (uint16_t l = sp->first_pair; l < sp->first_gc_alloca + sp->num_gc_allocas; ++l)
                acc += rec.location(l).dwarf_reg;
        } else {
            acc += sp.error().message.size();
        }
    }
    sink = acc;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> bytes(data, size);
    auto blobs = gcwalk::parse_stackmap_section(bytes, "fuzz");
    if (blobs) {
        for (const auto& blob : *blobs) walk(blob);
        // Whatever v3 accepts converts to v2 (unless a v2 field is too narrow), writes, and
        // reads back equal.
        auto v2 = gcwalk::v2_from_v3(*blobs, {});
        if (v2) {
            auto written = gcwalk::write_v2(*v2);
            if (!written) __builtin_trap();
            auto back = gcwalk::parse_v2(*written, "fuzz-v2");
            if (!back || !(*back == *v2)) __builtin_trap();
        }
    } else {
        sink = blobs.error().message.size();
    }
    // Whatever parse_v2 accepts writes and reads back as the same model.
    auto v2 = gcwalk::parse_v2(bytes, "fuzz");
    if (v2) {
        auto written = gcwalk::write_v2(*v2);
        if (!written) __builtin_trap();
        auto back = gcwalk::parse_v2(*written, "fuzz-v2");
        if (!back || !(*back == *v2)) __builtin_trap();
    } else {
        sink = v2.error().message.size();
    }
    return 0;
}
