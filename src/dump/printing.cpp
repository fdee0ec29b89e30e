// What every gcwalk-dump view prints the same way: file and blob headers, and locations in
// llvm-readobj's wording (text) or as JSON objects.
#include "dump.hpp"

#include <gcwalk/statepoint.hpp>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <iterator>

namespace gcwalk::dump {

void print_file_header_text(const ParsedFile& f, std::string& out) {
    out += "\nFile: " + f.file.path + "\n";
    if (!f.file.has_section) {
        out += "Section: none\n";
        return;
    }
    out += "Section: .llvm_stackmaps, file offset: " + hex(f.file.section_file_offset) +
           ", address: " + hex(f.file.section_address) +
           ", size: " + std::to_string(f.file.bytes.size()) +
           (f.file.was_compressed
                ? " (compressed: " + std::to_string(f.file.section_size_in_file) + ")"
                : std::string()) +
           ", blobs: " + std::to_string(f.blobs.size()) + "\n";
}

void print_blob_header_text(const StackMapBlob& blob, std::string& out) {
    out += "Blob #" + std::to_string(blob.index_in_section()) +
           ": section offset: " + hex(blob.offset_in_section()) +
           ", size: " + std::to_string(blob.size_bytes()) + "\n";
}

std::string location_text(const StackMapBlob& blob, const Location& loc) {
    // The numbers are printed with the types llvm-readobj 14 uses: a Constant as its unsigned
    // 32-bit field, a ConstantIndex's index unsigned, offsets signed.
    std::string s;
    const std::string reg = std::to_string(loc.dwarf_reg);
    switch (loc.kind) {
    case LocationKind::Register: s = "Register R#" + reg; break;
    case LocationKind::Direct: s = "Direct R#" + reg + " + " + std::to_string(loc.offset); break;
    case LocationKind::Indirect:
        s = "Indirect [R#" + reg + " + " + std::to_string(loc.offset) + "]";
        break;
    case LocationKind::Constant:
        s = "Constant " + std::to_string(static_cast<uint32_t>(loc.offset));
        break;
    case LocationKind::ConstantIndex:
        s = "ConstantIndex #" + std::to_string(static_cast<uint32_t>(loc.offset)) + " (" +
            std::to_string(constant_value(blob, loc)) + ")";
        break;
    }
    return s + ", size: " + std::to_string(loc.size);
}

void location_json(const StackMapBlob& blob, const Location& loc, JsonWriter& json) {
    json.begin_object();
    json.member("kind", to_string(loc.kind));
    json.member("size", loc.size);
    json.member("dwarf_reg", loc.dwarf_reg);
    switch (loc.kind) {
    case LocationKind::Register: break;
    case LocationKind::Direct:
    case LocationKind::Indirect: json.member("offset", loc.offset); break;
    case LocationKind::Constant: json.member("value", static_cast<int64_t>(loc.offset)); break;
    case LocationKind::ConstantIndex:
        json.member("index", static_cast<uint32_t>(loc.offset));
        json.member("value", constant_value(blob, loc));
        break;
    }
    json.end_object();
}

void file_members_json(const ParsedFile& f, JsonWriter& json) {
    json.member("file", f.file.path);
    json.member("kind", to_string(f.file.kind));
    json.key("section");
    json.begin_object(); // {"present": false} without a section: the member stays an object
    json.member("present", f.file.has_section);
    if (f.file.has_section) {
        json.member("file_offset", f.file.section_file_offset);
        json.member("address", f.file.section_address);
        json.member("size", static_cast<uint64_t>(f.file.bytes.size()));
        json.member("compressed", f.file.was_compressed);
        json.member("size_in_file", f.file.section_size_in_file);
    }
    json.end_object();
    json.key("relocations").begin_array();
    for (const SectionRelocation& r : f.file.relocations) {
        json.begin_object();
        json.member("offset", r.offset);
        json.member("type", r.type_name);
        json.member("symbol", r.symbol);
        json.member("symbol_value", r.symbol_value);
        json.member("addend", r.addend);
        json.end_object();
    }
    json.end_array();
    json.key("function_symbols").begin_array();
    for (const NamedFunctionRange& fn : f.file.functions) {
        json.begin_object();
        json.member("address", fn.address);
        json.member("size", fn.size);
        json.member("name", fn.name);
        json.end_object();
    }
    json.end_array();
}

std::vector<const char*> frame_flag_names(uint32_t flags) {
    std::vector<const char*> names;
    if (flags & kFrameDynamic) names.push_back("dynamic");
    if (flags & kFrameSizeUnknown) names.push_back("size-unknown");
    if (flags & kFrameHasRule) names.push_back("has-rule");
    return names;
}

std::string function_name(const ObjectStackMaps& file, uint64_t address) {
    auto it =
        std::lower_bound(file.functions.begin(), file.functions.end(), address,
                         [](const NamedFunctionRange& f, uint64_t a) { return f.address < a; });
    return it != file.functions.end() && it->address == address ? it->name : std::string();
}

const std::string* refusal(const ObjectStackMaps& file, uint64_t ra) {
    auto it = std::lower_bound(file.refused_rules.begin(), file.refused_rules.end(), ra,
                               [](const auto& r, uint64_t a) { return r.first < a; });
    return it != file.refused_rules.end() && it->first == ra ? &it->second : nullptr;
}

namespace {

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

} // namespace

std::string rule_text(const FrameRule& rule, const std::string* refused) {
    std::string out = "CFA: ";
    out += rule.cfa_reg == 0xff
               ? std::string("unknown")
               : "R#" + std::to_string(rule.cfa_reg) + " + " + std::to_string(rule.cfa_offset);
    if (rule.flags & kRuleFromCfi) {
        out += " (cfi), saved: [ ";
        for (size_t i = 0; i < std::size(kCalleeSaved); ++i)
            if (rule.saved[i] != 0)
                out += "R#" + std::to_string(kCalleeSaved[i]) + " at CFA" +
                       std::to_string(rule.saved[i]) + " ";
        out += "]";
    } else if (refused) {
        out += " (cfi refused: " + *refused + ")";
    }
    return out;
}

void rule_json(const FrameRule& rule, const std::string* refused, JsonWriter& json) {
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
    if (refused) json.member("cfi_refused", *refused);
    json.end_object();
}

std::string roots_text(std::span<const RootPair> roots) {
    std::string out = "roots: " + std::to_string(roots.size()) + " [ ";
    for (const RootPair& p : roots) {
        out += root_text(p.base);
        if (p.derived.bits != p.base.bits) out += " -> " + root_text(p.derived);
        out += " ";
    }
    return out + "]";
}

void roots_json(std::span<const RootPair> roots, JsonWriter& json) {
    json.key("roots").begin_array();
    for (const RootPair& p : roots) {
        json.begin_object();
        json.key("base");
        root_json(p.base, json);
        json.key("derived");
        root_json(p.derived, json);
        json.end_object();
    }
    json.end_array();
}

} // namespace gcwalk::dump
