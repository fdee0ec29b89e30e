// The pieces of gcwalk-dump: the options, and one printer per view (raw, frames, statepoints,
// table), each writing one file's output in the chosen format into a string, or returning the error
// that stops the file.
#pragma once

#include "json_writer.hpp"

#include <gcwalk/detail/format.hpp> // hex()
#include <gcwalk/expected.hpp>
#include <gcwalk/frame_table.hpp>
#include <gcwalk/object_file.hpp>
#include <gcwalk/stackmap.hpp>

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace gcwalk::dump {

enum class Format { Llvm, Json };
enum class View { Raw, Frames, Statepoints, Table };
// Where the frames view takes its functions and call sites from: `.gcwalk_frames` when the file
// has one, else `.llvm_stackmaps` (Auto); or the one named.
enum class Source { Auto, Stackmaps, Table };

// A file read and its section parsed into blobs (the blobs view file.bytes).
struct ParsedFile {
    ObjectStackMaps file;
    std::vector<StackMapBlob> blobs;
};

// One chunk of `.gcwalk_frames` (docs/FORMATS.md, "Chunks").
struct FrameChunk {
    uint64_t section_offset;
    uint64_t original_size;
    uint64_t compressed_size;
};

// A file's `.gcwalk_frames`, inflated and parsed.
struct PackedTable {
    std::vector<FrameChunk> chunks;
    uint64_t payload_size = 0;
    std::shared_ptr<const FrameTable> table;
};

// Reads f.file.frame_table_bytes (the file must have one); errors name the file.
Expected<PackedTable> load_frame_table(const ObjectStackMaps& file);

// Text output appends to `out`; JSON output writes one value (the file's object) into `json`.
void print_raw_text(const ParsedFile& f, std::string& out);
void print_raw_json(const ParsedFile& f, JsonWriter& json);
Status print_frames_text(const ParsedFile& f, Source source, std::string& out);
Status print_frames_json(const ParsedFile& f, Source source, JsonWriter& json);
Status print_table_text(const ParsedFile& f, std::string& out);
Status print_table_json(const ParsedFile& f, JsonWriter& json);
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

// FrameFlags by name: "dynamic", "size-unknown", "has-rule".
std::vector<const char*> frame_flag_names(uint32_t flags);
// The symbol named at `address` exactly, or "".
std::string function_name(const ObjectStackMaps& file, uint64_t address);
// Why the CFI evaluator refused the row at `ra` (link-time), or null when it did not.
const std::string* refusal(const ObjectStackMaps& file, uint64_t ra);
// "CFA: R#7 + 64 (cfi), saved: [ R#3 at CFA-16 ]", or with " (cfi refused: why)".
std::string rule_text(const FrameRule& rule, const std::string* refused);
// The member "cfa": {"known", "dwarf_reg", "offset", "from_cfi", "saved", ["cfi_refused"]}.
void rule_json(const FrameRule& rule, const std::string* refused, JsonWriter& json);
// "roots: 2 [ [R#7 + 8] [R#7 + 0] -> [R#7 + 16] ]"
std::string roots_text(std::span<const RootPair> roots);
// The member "roots": [{"base": root, "derived": root}] with a root {"kind", "dwarf_reg",
// "offset"}.
void roots_json(std::span<const RootPair> roots, JsonWriter& json);

} // namespace gcwalk::dump
