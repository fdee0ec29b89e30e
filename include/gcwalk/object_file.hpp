// Reading `.llvm_stackmaps` from an ELF file on disk (executable, shared object or relocatable
// .o), with what a tool needs around it: where the section is, the relocations a .o applies to
// it, and the function ranges from the symbol table. Implemented with LLVM Object in the
// `gcwalk_object` library (gcwalk::object); this header uses only the standard library.
//
//   auto file = gcwalk::read_stackmaps_from_file("a.out");
//   if (!file) { report(file.error().message); }               // "a.out: ..." (names the file)
//   auto blobs = gcwalk::parse_stackmap_section(file->bytes, file->path);
#pragma once

#include <gcwalk/expected.hpp>
#include <gcwalk/frame_index.hpp>
#include <gcwalk/frame_table.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gcwalk {

enum class ObjectKind : uint8_t {
    Relocatable,  // ET_REL (.o): function addresses in the section are 0, see relocations
    Executable,   // ET_EXEC, or ET_DYN marked DF_1_PIE
    SharedObject, // ET_DYN
    Other,
};

const char*
to_string(ObjectKind kind) noexcept; // "relocatable", "executable", "shared-object", "other"

// One relocation that applies to `.llvm_stackmaps` in a .o (the section's SHT_RELA/SHT_REL).
struct SectionRelocation {
    uint64_t offset;       // byte offset within the section (16 + 24 * i for function i of blob 0)
    uint32_t type;         // ELF relocation type (R_X86_64_64 = 1)
    std::string type_name; // "R_X86_64_64"
    std::string
        symbol; // the symbol's name ("" when none; a section symbol gives the section's name)
    uint64_t symbol_value; // st_value: in a .o, the offset within the symbol's section
    int64_t addend;        // r_addend (0 for SHT_REL)
};

// A function from the symbol table (STT_FUNC with a size), or from an `.eh_frame` FDE where no
// sized symbol covers the FDE's start (then `name` is empty).
struct NamedFunctionRange {
    uint64_t address; // st_value: the link-time address; in a .o, the offset in its section
    uint64_t size;    // bytes
    std::string name;
};

struct ObjectStackMaps {
    std::string path;
    ObjectKind kind = ObjectKind::Other;
    bool relocatable = false;          // ET_REL: addresses in the section are placeholders
    bool has_section = false;          // false: no `.llvm_stackmaps`, everything below is empty
    bool was_compressed = false;       // SHF_COMPRESSED: `bytes` holds the decompressed contents
    uint64_t section_file_offset = 0;  // sh_offset
    uint64_t section_address = 0;      // sh_addr (0 in a .o)
    uint64_t section_size_in_file = 0; // sh_size (the compressed size when compressed)
    std::vector<uint8_t> bytes;        // the section's contents, decompressed
    std::vector<SectionRelocation> relocations; // .o only, sorted by offset
    std::vector<NamedFunctionRange> functions;  // sorted by address
    // Linked files: the frame rule (kRuleFromCfi) at each record's return address (link-time),
    // from the `.eh_frame` row in force at the call; sorted, one per address. Empty for a .o.
    // Computed by the runtime's own evaluator (EhFrameTable) on the file's segment, so these are
    // the rules the runtime finds at the same addresses plus the load bias.
    std::vector<std::pair<uint64_t, FrameRule>> rules;
    // The return addresses whose row that evaluator refuses (the runtime steps those frames with
    // libunwind), each with its reason as the runtime words it; sorted, one per address.
    std::vector<std::pair<uint64_t, std::string>> refused_rules;
    // Linked files with no usable frame table (no PT_GNU_EH_FRAME, a bad header): why; then
    // `rules` and `refused_rules` are empty.
    std::string rules_problem;

    // Where `.llvm_stackmaps` is: SHF_ALLOC set (loaded with the image) or not (read from the
    // file).
    bool section_allocated = false;
    // Linked files: what a packed frame table of this file describes (gcwalk-pack writes it, the
    // runtime checks it): the NT_GNU_BUILD_ID descriptor, every allocated SHF_EXECINSTR section
    // with contents (link-time address, size) in address order, and frame_table_hash over their
    // bytes in the file, in that order. Empty for a .o.
    FrameTableIdentity identity;
    // `.gcwalk_frames` (a packed frame table in compressed chunks, <gcwalk/frame_chunks.hpp>), as
    // stored; has_frame_table is false when the file has none.
    bool has_frame_table = false;
    uint64_t frame_table_file_offset = 0; // sh_offset
    std::vector<uint8_t> frame_table_bytes;

    // The bytes with every 64-bit absolute relocation (R_X86_64_64) resolved as symbol value +
    // addend, so that a .o's function entries hold their offsets within the text section.
    // Linked files are returned unchanged (the linker already stored the addresses).
    std::vector<uint8_t> resolved_bytes() const;

    // The file as an image for FrameIndex::build, at `load_bias` (0: link-time addresses):
    // `section` views a copy of resolved_bytes() kept alive by `owner`; functions and rules are
    // moved by `load_bias`.
    ImageStackMaps to_image(int64_t load_bias = 0) const;
};

// Reads the file. A file without `.llvm_stackmaps` gives has_section = false, not an error.
// Errors (unreadable, not ELF, truncated headers, bad compression) start with the path.
Expected<ObjectStackMaps> read_stackmaps_from_file(const std::string& path);

} // namespace gcwalk
