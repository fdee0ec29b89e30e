// The statepoints view: every record decoded with decode_statepoint (calling convention, flags,
// deopt locations, (base, derived) pairs, gc allocas); records of another shape (stackmap,
// patchpoint) are listed with the reason they are not statepoints.
#include "dump.hpp"

#include <gcwalk/statepoint.hpp>

namespace gcwalk::dump {
namespace {

void locations_text(const StackMapBlob& blob, const RecordView& rec, uint16_t first, uint16_t count,
                    const char* what, std::string& out) {
    out += "    " + std::to_string(count) + " " + what + ":\n";
    for (uint16_t i = 0; i < count; ++i)
        out += "      #" + std::to_string(i + 1) + ": " +
               location_text(blob, rec.location(static_cast<uint16_t>(first + i))) + "\n";
}

void locations_json(const StackMapBlob& blob, const RecordView& rec, uint16_t first, uint16_t count,
                    const char* what, JsonWriter& json) {
    json.key(what).begin_array();
    for (uint16_t i = 0; i < count; ++i)
        location_json(blob, rec.location(static_cast<uint16_t>(first + i)), json);
    json.end_array();
}

} // namespace

void print_statepoints_text(const ParsedFile& f, std::string& out) {
    print_file_header_text(f, out);
    for (const StackMapBlob& blob : f.blobs) {
        print_blob_header_text(blob, out);
        for (uint32_t r = 0; r < blob.num_records(); ++r) {
            const RecordView rec = blob.record(r);
            out += "  Record #" + std::to_string(r) + " ID: " + std::to_string(rec.id()) +
                   ", instruction offset: " + std::to_string(rec.instruction_offset());
            auto sp = decode_statepoint(blob, rec, f.file.path);
            if (!sp) {
                out += ", not a statepoint: " + sp.error().message + "\n";
                continue;
            }
            out += "\n    calling convention: " + std::to_string(sp->calling_convention) +
                   ", flags: " + std::to_string(sp->flags) + "\n";
            locations_text(blob, rec, sp->first_deopt, sp->num_deopt, "deopt locations", out);
            out += "    " + std::to_string(sp->num_pairs) + " (base, derived) pairs:\n";
            for (uint16_t p = 0; p < sp->num_pairs; ++p) {
                const auto at = static_cast<uint16_t>(sp->first_pair + 2 * p);
                out += "      #" + std::to_string(p + 1) + ": base " +
                       location_text(blob, rec.location(at)) + "; derived " +
                       location_text(blob, rec.location(static_cast<uint16_t>(at + 1))) + "\n";
            }
            locations_text(blob, rec, sp->first_gc_alloca, sp->num_gc_allocas, "gc allocas", out);
        }
    }
}

void print_statepoints_json(const ParsedFile& f, JsonWriter& json) {
    json.begin_object();
    file_members_json(f, json);
    json.key("blobs").begin_array();
    for (const StackMapBlob& blob : f.blobs) {
        json.begin_object();
        json.member("index", blob.index_in_section());
        json.member("section_offset", blob.offset_in_section());
        json.key("records").begin_array();
        for (uint32_t r = 0; r < blob.num_records(); ++r) {
            const RecordView rec = blob.record(r);
            json.begin_object();
            json.member("index", r);
            json.member("id", rec.id());
            json.member("instruction_offset", rec.instruction_offset());
            auto sp = decode_statepoint(blob, rec, f.file.path);
            json.member("statepoint", sp.has_value());
            if (!sp) {
                json.member("error", sp.error().message);
                json.end_object();
                continue;
            }
            json.member("calling_convention", sp->calling_convention);
            json.member("flags", sp->flags);
            locations_json(blob, rec, sp->first_deopt, sp->num_deopt, "deopt", json);
            json.key("pairs").begin_array();
            for (uint16_t p = 0; p < sp->num_pairs; ++p) {
                const auto at = static_cast<uint16_t>(sp->first_pair + 2 * p);
                json.begin_object();
                json.key("base");
                location_json(blob, rec.location(at), json);
                json.key("derived");
                location_json(blob, rec.location(static_cast<uint16_t>(at + 1)), json);
                json.end_object();
            }
            json.end_array();
            locations_json(blob, rec, sp->first_gc_alloca, sp->num_gc_allocas, "gc_allocas", json);
            json.end_object();
        }
        json.end_array();
        json.end_object();
    }
    json.end_array();
    json.end_object();
}

} // namespace gcwalk::dump
