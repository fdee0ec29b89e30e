// The frames view: the FrameRecords FrameIndex::build makes of a file (function range, stack
// size, flags, records) and each call site's frame rule and roots. In linked files the rule comes
// from the runtime's own CFI evaluator (through read_stackmaps_from_file), and a call site it
// refuses shows the runtime's reason. Addresses are the file's link-time addresses; a .o is indexed
// as if loaded at kObjectBase (its function entries resolved to section offsets first) and printed
// as section offsets.
#include "dump.hpp"

#include <gcwalk/frame_index.hpp>

namespace gcwalk::dump {
namespace {

// FrameIndex refuses address 0 (an unrelocated section): a .o's first function is at 0.
constexpr int64_t kObjectBase = 0x100000;

struct Indexed {
    FrameIndex index;
    int64_t bias;
    bool from_table;
};

// The index of the file's `.gcwalk_frames` (as the runtime builds it when the image has one) or
// of its `.llvm_stackmaps`.
Expected<Indexed> build_index(const ParsedFile& f, Source source) {
    const int64_t bias = f.file.relocatable ? kObjectBase : 0;
    const bool from_table =
        source == Source::Table || (source == Source::Auto && f.file.has_frame_table);
    std::vector<ImageStackMaps> images;
    if (from_table) {
        if (!f.file.has_frame_table)
            return Error{f.file.path + ": no " + kFrameTableSection + " (--from=table)"};
        auto packed = load_frame_table(f.file);
        if (!packed) return std::move(packed).error();
        ImageStackMaps image;
        image.name = f.file.path;
        image.load_bias = bias;
        image.table = packed->table;
        images.push_back(std::move(image));
    } else if (f.file.has_section) {
        images.push_back(f.file.to_image(bias));
    }
    auto index = FrameIndex::build(std::move(images));
    if (!index) return std::move(index).error();
    return Indexed{std::move(*index), bias, from_table};
}

const char* source_name(bool from_table) {
    return from_table ? kFrameTableSection : ".llvm_stackmaps";
}

} // namespace

Status print_frames_text(const ParsedFile& f, Source source, std::string& out) {
    auto built = build_index(f, source);
    if (!built) return built.error();
    const FrameIndex& index = built->index;
    const uint64_t bias = static_cast<uint64_t>(built->bias);
    print_file_header_text(f, out);
    out += "Frames: " + std::to_string(index.frames().size()) + "\n";
    out += std::string("Frames from: ") + source_name(built->from_table) + "\n";
    if (!f.file.rules_problem.empty()) out += "Frame rules: none (" + f.file.rules_problem + ")\n";
    for (const FrameRecord& fr : index.frames()) {
        const uint64_t addr = fr.function_address - bias;
        const std::string name = function_name(f.file, addr);
        out += "  Function " + hex(addr) + (name.empty() ? "" : " (" + name + ")") +
               ", size: " + std::to_string(fr.function_size) +
               ", stack size: " + std::to_string(fr.stack_size) + ", flags: [ ";
        for (const char* flag : frame_flag_names(fr.flags)) out += std::string(flag) + " ";
        out += "], blob: " + std::to_string(fr.blob) +
               ", function: " + std::to_string(fr.function) +
               ", records: " + std::to_string(fr.num_records) + "\n";
        const StackMapBlob& blob = index.blob(RecordRef{fr.image, fr.blob});
        for (uint32_t r = 0; r < fr.num_records; ++r) {
            const RecordView rec = blob.record(fr.first_record + r);
            const uint64_t ra = fr.function_address + rec.instruction_offset();
            out += "    " + hex(ra - bias) + ": record #" + std::to_string(fr.first_record + r) +
                   ", ID: " + std::to_string(rec.id());
            const CallSite* cs = index.find(ra);
            if (!cs) {
                out += ", no call site\n";
                continue;
            }
            out += ", " + rule_text(index.rule(*cs), refusal(f.file, ra - bias)) + ", " +
                   roots_text(index.roots(*cs)) + "\n";
        }
    }
    return Status::ok();
}

Status print_frames_json(const ParsedFile& f, Source source, JsonWriter& json) {
    auto built = build_index(f, source);
    if (!built) return built.error();
    const FrameIndex& index = built->index;
    const uint64_t bias = static_cast<uint64_t>(built->bias);
    json.begin_object();
    file_members_json(f, json);
    if (!f.file.rules_problem.empty()) json.member("frame_rules_problem", f.file.rules_problem);
    json.key("frames").begin_array();
    for (const FrameRecord& fr : index.frames()) {
        const uint64_t addr = fr.function_address - bias;
        json.begin_object();
        json.member("function_address", addr);
        json.member("name", function_name(f.file, addr));
        json.member("function_size", fr.function_size);
        json.member("stack_size", fr.stack_size);
        json.key("flags").begin_array();
        for (const char* flag : frame_flag_names(fr.flags)) json.value(flag);
        json.end_array();
        json.member("blob", fr.blob);
        json.member("function", fr.function);
        json.key("records").begin_array();
        const StackMapBlob& blob = index.blob(RecordRef{fr.image, fr.blob});
        for (uint32_t r = 0; r < fr.num_records; ++r) {
            const RecordView rec = blob.record(fr.first_record + r);
            const uint64_t ra = fr.function_address + rec.instruction_offset();
            json.begin_object();
            json.member("record", fr.first_record + r);
            json.member("id", rec.id());
            json.member("return_address", ra - bias);
            const CallSite* cs = index.find(ra);
            json.member("call_site", cs != nullptr);
            if (cs) {
                rule_json(index.rule(*cs), refusal(f.file, ra - bias), json);
                roots_json(index.roots(*cs), json);
            }
            json.end_object();
        }
        json.end_array();
        json.end_object();
    }
    json.end_array();
    // (Added after the documented members: a key new to the view goes at the end.)
    json.member("frames_from", built->from_table ? "table" : "stackmaps");
    json.end_object();
    return Status::ok();
}

} // namespace gcwalk::dump
