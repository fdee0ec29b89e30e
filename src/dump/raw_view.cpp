// The raw view: every blob as stored. In text, each blob's lines are exactly what
// `llvm-readobj-14 --stackmap` prints for a section holding only that blob.
#include "dump.hpp"

namespace gcwalk::dump {
namespace {

void blob_text(const StackMapBlob& blob, std::string& out) {
    out += "LLVM StackMap Version: " + std::to_string(blob.version()) + "\n";
    out += "Num Functions: " + std::to_string(blob.num_functions()) + "\n";
    for (uint32_t i = 0; i < blob.num_functions(); ++i) {
        const FunctionEntry fn = blob.function(i);
        out += "  Function address: " + std::to_string(fn.address) +
               ", stack size: " + std::to_string(fn.stack_size) +
               ", callsite record count: " + std::to_string(fn.record_count) + "\n";
    }
    out += "Num Constants: " + std::to_string(blob.num_constants()) + "\n";
    for (uint32_t i = 0; i < blob.num_constants(); ++i)
        out += "  #" + std::to_string(i + 1) + ": " + std::to_string(blob.constant(i)) + "\n";
    out += "Num Records: " + std::to_string(blob.num_records()) + "\n";
    for (uint32_t r = 0; r < blob.num_records(); ++r) {
        const RecordView rec = blob.record(r);
        out += "  Record ID: " + std::to_string(rec.id()) +
               ", instruction offset: " + std::to_string(rec.instruction_offset()) + "\n";
        out += "    " + std::to_string(rec.num_locations()) + " locations:\n";
        for (uint16_t l = 0; l < rec.num_locations(); ++l)
            out += "      #" + std::to_string(l + 1) + ": " + location_text(blob, rec.location(l)) +
                   "\n";
        out += "    " + std::to_string(rec.num_live_outs()) + " live-outs: [ ";
        for (uint16_t l = 0; l < rec.num_live_outs(); ++l) {
            const LiveOut lo = rec.live_out(l);
            out +=
                "R#" + std::to_string(lo.dwarf_reg) + " (" + std::to_string(lo.size) + "-bytes) ";
        }
        out += "]\n";
    }
}

void blob_json(const StackMapBlob& blob, JsonWriter& json) {
    json.begin_object();
    json.member("index", blob.index_in_section());
    json.member("section_offset", blob.offset_in_section());
    json.member("size", blob.size_bytes());
    json.member("version", blob.version());
    json.key("functions").begin_array();
    for (uint32_t i = 0; i < blob.num_functions(); ++i) {
        const FunctionEntry fn = blob.function(i);
        json.begin_object();
        json.member("address", fn.address);
        json.member("stack_size", fn.stack_size);
        json.member("record_count", fn.record_count);
        json.end_object();
    }
    json.end_array();
    json.key("constants").begin_array();
    for (uint32_t i = 0; i < blob.num_constants(); ++i) json.value(blob.constant(i));
    json.end_array();
    json.key("records").begin_array();
    for (uint32_t r = 0; r < blob.num_records(); ++r) {
        const RecordView rec = blob.record(r);
        json.begin_object();
        json.member("id", rec.id());
        json.member("instruction_offset", rec.instruction_offset());
        json.key("locations").begin_array();
        for (uint16_t l = 0; l < rec.num_locations(); ++l)
            location_json(blob, rec.location(l), json);
        json.end_array();
        json.key("live_outs").begin_array();
        for (uint16_t l = 0; l < rec.num_live_outs(); ++l) {
            const LiveOut lo = rec.live_out(l);
            json.begin_object();
            json.member("dwarf_reg", lo.dwarf_reg);
            json.member("size", lo.size);
            json.end_object();
        }
        json.end_array();
        json.end_object();
    }
    json.end_array();
    json.end_object();
}

} // namespace

void print_raw_text(const ParsedFile& f, std::string& out) {
    print_file_header_text(f, out);
    for (const StackMapBlob& blob : f.blobs) {
        print_blob_header_text(blob, out);
        blob_text(blob, out);
    }
}

void print_raw_json(const ParsedFile& f, JsonWriter& json) {
    json.begin_object();
    file_members_json(f, json);
    json.key("blobs").begin_array();
    for (const StackMapBlob& blob : f.blobs) blob_json(blob, json);
    json.end_array();
    json.end_object();
}

} // namespace gcwalk::dump
