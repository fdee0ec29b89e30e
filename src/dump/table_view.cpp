// The table view: a file's `.gcwalk_frames` (gcwalk-pack's packed frame table) as stored: every
// chunk, the identity the table claims beside the file's own, the counts, then every function
// and record with its rule and roots. Addresses are link-time, as in the table.
#include "dump.hpp"

#include <gcwalk/frame_chunks.hpp>

#include <optional>
#include <ranges>

namespace gcwalk::dump {
namespace {

// One ULEB128 at `at` (read_frame_chunks checked the framing before this runs).
uint64_t read_uleb(std::span<const uint8_t> bytes, uint64_t& at) {
    uint64_t v = 0;
    for (unsigned shift = 0; at < bytes.size() && shift < 64; shift += 7) {
        const uint8_t b = bytes[at++];
        v |= uint64_t{b & 0x7fu} << shift;
        if (!(b & 0x80)) break;
    }
    return v;
}

std::string hex_bytes(std::span<const uint8_t> bytes) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (uint8_t b : bytes) {
        s += digits[b >> 4];
        s += digits[b & 15];
    }
    return s;
}

// Why the table does not describe this file (the runtime's check, made on the file's bytes), or "".
std::string identity_mismatch(const FrameTableIdentity& table, const FrameTableIdentity& file) {
    if (!table.build_id.empty() && !file.build_id.empty() && table.build_id != file.build_id)
        return "the build IDs differ (the file's is " + hex_bytes(file.build_id) + ")";
    if (table.code != file.code) return "the code ranges differ";
    if (table.code_hash != file.code_hash)
        return "the code hash differs (the file's is " + hex(file.code_hash) + ")";
    return {};
}

std::string record_rule_text(const FrameTable& t, const PackedSite& r) {
    if (r.rule >= t.rules.size()) return "rule: #" + std::to_string(r.rule) + " (out of range)";
    return "rule: #" + std::to_string(r.rule) + " " + rule_text(t.rules[r.rule], nullptr);
}

std::span<const RootPair> record_roots(const FrameTable& t, const PackedSite& r) {
    if (r.first_root > t.roots.size() || r.num_roots > t.roots.size() - r.first_root) return {};
    return std::span<const RootPair>(t.roots).subspan(r.first_root, r.num_roots);
}

// The indexes of a function's records (into FrameTable::sites and ::records).
auto function_records(const FrameTable& t, const PackedFunction& fn) {
    if (fn.first_record > t.sites.size() || fn.num_records > t.sites.size() - fn.first_record ||
        t.records.size() != t.sites.size())
        return std::views::iota(uint32_t{0}, uint32_t{0});
    return std::views::iota(fn.first_record, fn.first_record + fn.num_records);
}

} // namespace

Expected<PackedTable> load_frame_table(const ObjectStackMaps& file) {
    PackedTable out;
    const std::span<const uint8_t> section = file.frame_table_bytes;
    auto payload = read_frame_chunks(section, file.path);
    if (!payload) return std::move(payload).error();
    for (uint64_t at = 0; at < section.size();) {
        FrameChunk c{at, 0, 0};
        c.original_size = read_uleb(section, at);
        c.compressed_size = read_uleb(section, at);
        at += c.compressed_size;
        out.chunks.push_back(c);
    }
    out.payload_size = payload->size();
    auto table = parse_frame_table(*payload, file.path + ": " + kFrameTableSection);
    if (!table) return std::move(table).error();
    out.table = std::make_shared<const FrameTable>(std::move(*table));
    return out;
}

Status print_table_text(const ParsedFile& f, std::string& out) {
    print_file_header_text(f, out);
    if (!f.file.has_frame_table) {
        out += "Frame table: none\n";
        return Status::ok();
    }
    auto packed = load_frame_table(f.file);
    if (!packed) return packed.error();
    const FrameTable& t = *packed->table;
    out += std::string("Frame table: ") + kFrameTableSection +
           ", file offset: " + hex(f.file.frame_table_file_offset) +
           ", size: " + std::to_string(f.file.frame_table_bytes.size()) +
           ", chunks: " + std::to_string(packed->chunks.size()) +
           ", payload: " + std::to_string(packed->payload_size) + "\n";
    for (size_t i = 0; i < packed->chunks.size(); ++i) {
        const FrameChunk& c = packed->chunks[i];
        out += "  Chunk #" + std::to_string(i) + ": section offset: " + hex(c.section_offset) +
               ", original size: " + std::to_string(c.original_size) +
               ", compressed size: " + std::to_string(c.compressed_size) + "\n";
    }
    const std::string mismatch = identity_mismatch(t.identity, f.file.identity);
    out += "Identity: build ID: " +
           (t.identity.build_id.empty() ? std::string("none") : hex_bytes(t.identity.build_id)) +
           ", code ranges: " + std::to_string(t.identity.code.size()) +
           ", code hash: " + hex(t.identity.code_hash) +
           ", matches the file: " + (mismatch.empty() ? "yes" : "no (" + mismatch + ")") + "\n";
    for (const auto& c : t.identity.code)
        out += "  Code " + hex(c.address) + ", size: " + std::to_string(c.size) + "\n";
    out += "Counts: functions: " + std::to_string(t.functions.size()) +
           ", records: " + std::to_string(t.records.size()) +
           ", locations: " + std::to_string(t.locations.size()) +
           ", live-outs: " + std::to_string(t.live_outs.size()) +
           ", constants: " + std::to_string(t.constants.size()) +
           ", rules: " + std::to_string(t.rules.size()) +
           ", roots: " + std::to_string(t.roots.size()) + "\n";
    for (const PackedFunction& fn : t.functions) {
        const std::string name = function_name(f.file, fn.address);
        out += "  Function " + hex(fn.address) + (name.empty() ? "" : " (" + name + ")") +
               ", size: " + std::to_string(fn.size) +
               ", stack size: " + std::to_string(fn.stack_size) + ", flags: [ ";
        for (const char* flag : frame_flag_names(fn.flags)) out += std::string(flag) + " ";
        out += "], records: " + std::to_string(fn.num_records) + "\n";
        for (uint32_t index : function_records(t, fn)) {
            const PackedSite& s = t.sites[index];
            out += "    " + hex(fn.address + s.instruction_offset) + ": record #" +
                   std::to_string(index) + ", offset: " + std::to_string(s.instruction_offset) +
                   ", ID: " + std::to_string(t.records[index].id) +
                   ((s.site_flags & kPackedStatepoint) ? ", statepoint" : "") + ", " +
                   record_rule_text(t, s) + ", " + roots_text(record_roots(t, s)) + "\n";
        }
    }
    return Status::ok();
}

Status print_table_json(const ParsedFile& f, JsonWriter& json) {
    std::optional<PackedTable> packed;
    if (f.file.has_frame_table) {
        auto loaded = load_frame_table(f.file);
        if (!loaded) return loaded.error();
        packed = std::move(*loaded);
    }
    json.begin_object();
    file_members_json(f, json);
    json.key("frame_table").begin_object();
    json.member("present", packed.has_value());
    if (packed) {
        const FrameTable& t = *packed->table;
        json.member("file_offset", f.file.frame_table_file_offset);
        json.member("size", static_cast<uint64_t>(f.file.frame_table_bytes.size()));
        json.member("payload_size", packed->payload_size);
        json.key("chunks").begin_array();
        for (size_t i = 0; i < packed->chunks.size(); ++i) {
            json.begin_object();
            json.member("index", static_cast<uint64_t>(i));
            json.member("section_offset", packed->chunks[i].section_offset);
            json.member("original_size", packed->chunks[i].original_size);
            json.member("compressed_size", packed->chunks[i].compressed_size);
            json.end_object();
        }
        json.end_array();
        const std::string mismatch = identity_mismatch(t.identity, f.file.identity);
        json.key("identity").begin_object();
        json.member("build_id", hex_bytes(t.identity.build_id));
        json.key("code").begin_array();
        for (const auto& c : t.identity.code) {
            json.begin_object();
            json.member("address", c.address);
            json.member("size", c.size);
            json.end_object();
        }
        json.end_array();
        json.member("code_hash", t.identity.code_hash);
        json.member("matches_file", mismatch.empty());
        if (!mismatch.empty()) json.member("mismatch", mismatch);
        json.end_object();
        json.key("counts").begin_object();
        json.member("functions", static_cast<uint64_t>(t.functions.size()));
        json.member("records", static_cast<uint64_t>(t.records.size()));
        json.member("locations", static_cast<uint64_t>(t.locations.size()));
        json.member("live_outs", static_cast<uint64_t>(t.live_outs.size()));
        json.member("constants", static_cast<uint64_t>(t.constants.size()));
        json.member("rules", static_cast<uint64_t>(t.rules.size()));
        json.member("roots", static_cast<uint64_t>(t.roots.size()));
        json.end_object();
        json.key("functions").begin_array();
        for (const PackedFunction& fn : t.functions) {
            json.begin_object();
            json.member("address", fn.address);
            json.member("name", function_name(f.file, fn.address));
            json.member("size", fn.size);
            json.member("stack_size", fn.stack_size);
            json.key("flags").begin_array();
            for (const char* flag : frame_flag_names(fn.flags)) json.value(flag);
            json.end_array();
            json.key("records").begin_array();
            for (uint32_t index : function_records(t, fn)) {
                const PackedSite& r = t.sites[index];
                json.begin_object();
                json.member("record", index);
                json.member("id", t.records[index].id);
                json.member("instruction_offset", r.instruction_offset);
                json.member("return_address", fn.address + r.instruction_offset);
                json.member("statepoint", (r.site_flags & kPackedStatepoint) != 0);
                json.member("rule", r.rule);
                if (r.rule < t.rules.size()) rule_json(t.rules[r.rule], nullptr, json);
                roots_json(record_roots(t, r), json);
                json.end_object();
            }
            json.end_array();
            json.end_object();
        }
        json.end_array();
    }
    json.end_object();
    json.end_object();
    return Status::ok();
}

} // namespace gcwalk::dump
