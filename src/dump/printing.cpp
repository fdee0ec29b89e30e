// What every gcwalk-dump view prints the same way: file and blob headers, and locations in
// llvm-readobj's wording (text) or as JSON objects.
#include "dump.hpp"

#include <gcwalk/statepoint.hpp>

#include <cinttypes>
#include <cstdio>

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

} // namespace gcwalk::dump
