// gcwalk-pack's ELF rewriting: puts a non-allocated `.gcwalk_frames` section into a linked x86-64
// executable or shared object (replacing one that is there), and optionally drops a
// non-allocated `.llvm_stackmaps` with the relocation sections that point at it. The loaded part
// of the file (everything up to the end of the last segment's file bytes) is copied unchanged;
// the non-allocated sections after it are laid out again, and a new section header table ends
// the file. Written with <elf.h> alone (no LLVM), so every byte it changes is visible here.
//
//   auto out = gcwalk::pack::rewrite_elf(file_bytes, "a.out", {section, /*strip=*/true});
#pragma once

#include <gcwalk/expected.hpp>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace gcwalk::pack {

struct ElfEdit {
    std::span<const uint8_t> frame_table; // the new `.gcwalk_frames` contents (chunks)
    bool strip_stackmaps = false;         // drop `.llvm_stackmaps` (it must not be allocated)
};

// The rewritten file. Errors name `path` and what is wrong (not a 64-bit little-endian x86-64
// ELF executable or shared object, headers or sections outside the file, an allocated
// `.llvm_stackmaps` to strip, a section or symbol that still refers to a section to drop, ...).
Expected<std::vector<uint8_t>> rewrite_elf(std::span<const uint8_t> file, std::string_view path,
                                           const ElfEdit& edit);

} // namespace gcwalk::pack
