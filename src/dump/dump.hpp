// The pieces of gcwalk-dump: the options, and one printer per view (raw, frames, statepoints),
// each writing one file's output in the chosen format into a string, or returning the error
// that stops the file.
#pragma once

#include "json_writer.hpp"

#include <gcwalk/detail/format.hpp> // hex()
#include <gcwalk/expected.hpp>
#include <gcwalk/object_file.hpp>
#include <gcwalk/stackmap.hpp>

#include <string>
#include <vector>

namespace gcwalk::dump {

enum class Format { Llvm, Json };
enum class View { Raw, Frames, Statepoints };

// A file read and its section parsed into blobs (the blobs view file.bytes).
struct ParsedFile {
    ObjectStackMaps file;
    std::vector<StackMapBlob> blobs;
};

// Text output appends to `out`; JSON output writes one value (the file's object) into `json`.
void print_raw_text(const ParsedFile& f, std::string& out);
void print_raw_json(const ParsedFile& f, JsonWriter& json);
Status print_frames_text(const ParsedFile& f, std::string& out);
Status print_frames_json(const ParsedFile& f, JsonWriter& json);
void print_statepoints_text(const ParsedFile& f, std::string& out);
void print_statepoints_json(const ParsedFile& f, JsonWriter& json);

// Shared by the printers.
// "File: path" preceded by an empty line, then one "Section: ..." line.
void print_file_header_text(const ParsedFile& f, std::string& out);
// "Blob #k: section offset: 0x..., size: N"
void print_blob_header_text(const StackMapBlob& blob, std::string& out);
// The location as llvm-readobj prints it, e.g. "Indirect [R#7 + 8], size: 8".
std::string location_text(const StackMapBlob& blob, const Location& loc);
// {"kind", "size", "dwarf_reg", then "offset" (Direct, Indirect), "value" (Constant: the
// sign-extended value; ConstantIndex: the constant) and "index" (ConstantIndex)}.
void location_json(const StackMapBlob& blob, const Location& loc, JsonWriter& json);
// The file-level members: "file", "kind", "section", "relocations", "function_symbols".
void file_members_json(const ParsedFile& f, JsonWriter& json);

} // namespace gcwalk::dump
