// The frames view: the FrameRecords FrameIndex::build makes of a file (function range, stack
// size, flags, records) and each call site's frame rule and roots. In linked files the rule comes
// from the runtime's own CFI evaluator (through read_stackmaps_from_file), and a call site it
// refuses shows the runtime's reason. Addresses are the file's link-time addresses; a .o is indexed
// as if loaded at kObjectBase (its function entries resolved to section offsets first) and printed
// as section offsets.
#include "dump.hpp"

#include <gcwalk/frame_index.hpp>

#include <algorithm>
#include <iterator>

namespace gcwalk::dump {
namespace {

// FrameIndex refuses address 0 (an unrelocated section): a .o's first function is at 0.
constexpr int64_t kObjectBase = 0x100000;

std::vector<const char*> frame_flag_names(uint32_t flags) {
    std::vector<const char*> names;
    if (flags & kFrameDynamic) names.push_back("dynamic");
    if (flags & kFrameSizeUnknown) names.push_back("size-unknown");
    if (flags & kFrameHasRule) names.push_back("has-rule");
    return names;
}

const char* root_kind_name(uint32_t kind) {
    switch (kind) {
    case RootLoc::kNone: return "none";
    case RootLoc::kRegister: return "register";
    case RootLoc::kMemory: return "memory";
    }
    return "invalid";
}

std::string root_text(RootLoc r) {
    switch (r.kind()) {
    case RootLoc::kRegister: return "R#" + std::to_string(r.dwarf_reg());
    case RootLoc::kMemory:
        return "[R#" + std::to_string(r.dwarf_reg()) + " + " + std::to_string(r.offset()) + "]";
    default: return "none";
    }
}

void root_json(RootLoc r, JsonWriter& json) {
    json.begin_object();
    json.member("kind", root_kind_name(r.kind()));
    if (r.kind() != RootLoc::kNone) {
        json.member("dwarf_reg", r.dwarf_reg());
        if (r.kind() == RootLoc::kMemory) json.member("offset", r.offset());
    }
    json.end_object();
}

std::string function_name(const ObjectStackMaps& file, uint64_t address) {
    auto it =
        std::lower_bound(file.functions.begin(), file.functions.end(), address,
                         [](const NamedFunctionRange& f, uint64_t a) { return f.address < a; });
    return it != file.functions.end() && it->address == address ? it->name : std::string();
}

// Why the CFI evaluator refused the row at `ra` (link-time), or null when it did not.
const std::string* refusal(const ObjectStackMaps& file, uint64_t ra) {
    auto it = std::lower_bound(file.refused_rules.begin(), file.refused_rules.end(), ra,
                               [](const auto& r, uint64_t a) { return r.first < a; });
    return it != file.refused_rules.end() && it->first == ra ? &it->second : nullptr;
}

struct Indexed {
    FrameIndex index;
    int64_t bias;
};

Expected<Indexed> build_index(const ParsedFile& f) {
    const int64_t bias = f.file.relocatable ? kObjectBase : 0;
    std::vector<ImageStackMaps> images;
    if (f.file.has_section) images.push_back(f.file.to_image(bias));
    auto index = FrameIndex::build(std::move(images));
    if (!index) return std::move(index).error();
    return Indexed{std::move(*index), bias};
}

} // namespace

Status print_frames_text(const ParsedFile& f, std::string& out) {
    auto built = build_index(f);
    if (!built) return built.error();
    const FrameIndex& index = built->index;
    const uint64_t bias = static_cast<uint64_t>(built->bias);
    print_file_header_text(f, out);
    out += "Frames: " + std::to_string(index.frames().size()) + "\n";
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
            const FrameRule& rule = index.rule(*cs);
            out += ", CFA: ";
            out += rule.cfa_reg == 0xff ? std::string("unknown")
                                        : "R#" + std::to_string(rule.cfa_reg) + " + " +
                                              std::to_string(rule.cfa_offset);
            if (rule.flags & kRuleFromCfi) {
                out += " (cfi), saved: [ ";
                for (size_t i = 0; i < std::size(kCalleeSaved); ++i)
                    if (rule.saved[i] != 0)
                        out += "R#" + std::to_string(kCalleeSaved[i]) + " at CFA" +
                               std::to_string(rule.saved[i]) + " ";
                out += "]";
            } else if (const std::string* why = refusal(f.file, ra - bias)) {
                out += " (cfi refused: " + *why + ")";
            }
            const auto roots = index.roots(*cs);
            out += ", roots: " + std::to_string(roots.size()) + " [ ";
            for (const RootPair& p : roots) {
                out += root_text(p.base);
                if (p.derived.bits != p.base.bits) out += " -> " + root_text(p.derived);
                out += " ";
            }
            out += "]\n";
        }
    }
    return Status::ok();
}

Status print_frames_json(const ParsedFile& f, JsonWriter& json) {
    auto built = build_index(f);
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
                const FrameRule& rule = index.rule(*cs);
                json.key("cfa").begin_object();
                if (rule.cfa_reg == 0xff) {
                    json.member("known", false);
                } else {
                    json.member("known", true);
                    json.member("dwarf_reg", rule.cfa_reg);
                    json.member("offset", rule.cfa_offset);
                }
                json.member("from_cfi", (rule.flags & kRuleFromCfi) != 0);
                json.key("saved").begin_array();
                for (size_t i = 0; i < std::size(kCalleeSaved); ++i) {
                    if (rule.saved[i] == 0) continue;
                    json.begin_object();
                    json.member("dwarf_reg", kCalleeSaved[i]);
                    json.member("cfa_offset", static_cast<int32_t>(rule.saved[i]));
                    json.end_object();
                }
                json.end_array();
                if (const std::string* why = refusal(f.file, ra - bias))
                    json.member("cfi_refused", *why);
                json.end_object();
                json.key("roots").begin_array();
                for (const RootPair& p : index.roots(*cs)) {
                    json.begin_object();
                    json.key("base");
                    root_json(p.base, json);
                    json.key("derived");
                    root_json(p.derived, json);
                    json.end_object();
                }
                json.end_array();
            }
            json.end_object();
        }
        json.end_array();
        json.end_object();
    }
    json.end_array();
    json.end_object();
    return Status::ok();
}

} // namespace gcwalk::dump
