// rewrite_elf: the loaded part of the file copied as it is, the non-allocated sections after it
// laid out again (with `.gcwalk_frames`, and without what is stripped), a new section header
// table at the end. Section indices that change are remapped wherever a section header or a
// symbol holds one.
#include "elf_rewrite.hpp"

#include <gcwalk/detail/format.hpp>
#include <gcwalk/frame_table.hpp>

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

namespace gcwalk::pack {
namespace {

constexpr std::string_view kStackMaps = ".llvm_stackmaps";
constexpr uint32_t kNoIndex = UINT32_MAX;
// No linker aligns a non-allocated section to more than a page; a larger claim is a corrupt header.
constexpr uint64_t kMaxAlignment = uint64_t{1} << 16;

// `size` bytes at `offset` lie inside a file of `file_size` bytes.
bool inside(uint64_t offset, uint64_t size, uint64_t file_size) {
    return offset <= file_size && size <= file_size - offset;
}

uint64_t align_up(uint64_t v, uint64_t alignment) {
    return alignment <= 1 ? v : (v + alignment - 1) / alignment * alignment;
}

struct Section {
    Elf64_Shdr hdr;
    std::string name;
    bool removed = false;
    bool moved = false;                           // laid out again after the loaded part
    std::optional<std::vector<uint8_t>> contents; // new bytes, else the file's
};

class Rewriter {
  public:
    Rewriter(std::span<const uint8_t> file, std::string_view path, const ElfEdit& edit)
        : file_(file), path_(path), edit_(edit) {}

    Expected<std::vector<uint8_t>> run() {
        if (auto st = read_headers(); !st) return Error{st.message()};
        if (auto st = read_sections(); !st) return Error{st.message()};
        if (auto st = choose_removals(); !st) return Error{st.message()};
        if (auto st = remap_symbols(); !st) return Error{st.message()};
        if (auto st = place_frame_table(); !st) return Error{st.message()};
        return layout();
    }

  private:
    Error fail(const std::string& what) const { return Error{std::string(path_) + ": " + what}; }
    std::string describe(uint32_t index) const {
        return format("section %u (%s)", index, sections_[index].name.c_str());
    }
    template <class T> T load(uint64_t offset) const {
        T v;
        std::memcpy(&v, file_.data() + offset, sizeof v);
        return v;
    }

    Status read_headers() {
        if (file_.size() < sizeof(Elf64_Ehdr) || std::memcmp(file_.data(), ELFMAG, SELFMAG) != 0)
            return fail("not an ELF file");
        ehdr_ = load<Elf64_Ehdr>(0);
        if (ehdr_.e_ident[EI_CLASS] != ELFCLASS64 || ehdr_.e_ident[EI_DATA] != ELFDATA2LSB)
            return fail("not a 64-bit little-endian ELF file");
        if (ehdr_.e_machine != EM_X86_64)
            return fail(format("not an x86-64 ELF file (e_machine %u)", ehdr_.e_machine));
        if (ehdr_.e_type == ET_REL)
            return fail("a relocatable object (.o): gcwalk-pack rewrites linked executables and "
                        "shared objects");
        if (ehdr_.e_type != ET_EXEC && ehdr_.e_type != ET_DYN)
            return fail(
                format("ELF type %u is neither an executable nor a shared object", ehdr_.e_type));
        if (ehdr_.e_shoff == 0) return fail("no section headers");
        if (ehdr_.e_shnum == 0 || ehdr_.e_shstrndx == SHN_XINDEX)
            return fail("extended section numbering (65280 sections or more) is not supported");
        if (ehdr_.e_shentsize != sizeof(Elf64_Shdr))
            return fail(format("section header size %u, expected %zu", ehdr_.e_shentsize,
                               sizeof(Elf64_Shdr)));
        if (!inside(ehdr_.e_shoff, uint64_t{ehdr_.e_shnum} * sizeof(Elf64_Shdr), file_.size()))
            return fail(format("the section header table at offset 0x%" PRIx64
                               " (%u entries) lies outside the file (%zu bytes)",
                               ehdr_.e_shoff, ehdr_.e_shnum, file_.size()));
        if (ehdr_.e_shstrndx >= ehdr_.e_shnum)
            return fail(format("section name table index %u is out of range (%u sections)",
                               ehdr_.e_shstrndx, ehdr_.e_shnum));
        // The loaded part: headers and every segment's file bytes.
        loaded_end_ = sizeof(Elf64_Ehdr);
        if (ehdr_.e_phnum != 0) {
            if (ehdr_.e_phnum == PN_XNUM)
                return fail("extended program header numbering is not supported");
            if (ehdr_.e_phentsize != sizeof(Elf64_Phdr))
                return fail(format("program header size %u, expected %zu", ehdr_.e_phentsize,
                                   sizeof(Elf64_Phdr)));
            const uint64_t size = uint64_t{ehdr_.e_phnum} * sizeof(Elf64_Phdr);
            if (!inside(ehdr_.e_phoff, size, file_.size()))
                return fail("the program header table lies outside the file");
            loaded_end_ = std::max(loaded_end_, ehdr_.e_phoff + size);
            for (uint16_t i = 0; i < ehdr_.e_phnum; ++i) {
                const auto ph = load<Elf64_Phdr>(ehdr_.e_phoff + i * sizeof(Elf64_Phdr));
                if (!inside(ph.p_offset, ph.p_filesz, file_.size()))
                    return fail(format("segment %u at offset 0x%" PRIx64 " (%" PRIu64
                                       " bytes) lies outside the file (%zu bytes)",
                                       i, ph.p_offset, ph.p_filesz, file_.size()));
                loaded_end_ = std::max(loaded_end_, ph.p_offset + ph.p_filesz);
            }
        }
        return Status::ok();
    }

    Status read_sections() {
        sections_.resize(ehdr_.e_shnum);
        for (uint32_t i = 0; i < ehdr_.e_shnum; ++i) {
            Elf64_Shdr& h = sections_[i].hdr;
            h = load<Elf64_Shdr>(ehdr_.e_shoff + uint64_t{i} * sizeof(Elf64_Shdr));
            if (i != 0 && h.sh_type != SHT_NOBITS && !inside(h.sh_offset, h.sh_size, file_.size()))
                return fail(format("section %u at offset 0x%" PRIx64 " (%" PRIu64
                                   " bytes) lies outside the file (%zu bytes)",
                                   i, h.sh_offset, h.sh_size, file_.size()));
        }
        const Elf64_Shdr& names = sections_[ehdr_.e_shstrndx].hdr;
        if (names.sh_type != SHT_STRTAB)
            return fail(format("section name table %u is not SHT_STRTAB", ehdr_.e_shstrndx));
        const auto* strings = reinterpret_cast<const char*>(file_.data() + names.sh_offset);
        for (uint32_t i = 1; i < ehdr_.e_shnum; ++i) {
            const uint32_t at = sections_[i].hdr.sh_name;
            const void* end =
                at < names.sh_size ? std::memchr(strings + at, '\0', names.sh_size - at) : nullptr;
            if (!end)
                return fail(format("section %u: its name at offset %u of the section name "
                                   "table is out of range or not terminated",
                                   i, at));
            sections_[i].name = strings + at;
        }
        for (uint32_t i = 1; i < ehdr_.e_shnum; ++i) {
            if (sections_[i].name == kFrameTableSection) frames_.push_back(i);
            if (sections_[i].name == kStackMaps) stackmaps_.push_back(i);
        }
        if (frames_.size() > 1)
            return fail(format("%zu sections named %s", frames_.size(), kFrameTableSection));
        return Status::ok();
    }

    // --strip-stackmaps: `.llvm_stackmaps` and the relocation sections that apply to it.
    Status choose_removals() {
        if (!edit_.strip_stackmaps) return Status::ok();
        if (stackmaps_.empty()) return fail("no .llvm_stackmaps to strip");
        if (stackmaps_.size() > 1)
            return fail(format("%zu sections named .llvm_stackmaps", stackmaps_.size()));
        const uint32_t sm = stackmaps_[0];
        if (sections_[sm].hdr.sh_flags & SHF_ALLOC)
            return fail(".llvm_stackmaps is allocated (SHF_ALLOC): it lies inside a loaded "
                        "segment and cannot be removed. Relink with the managed objects' section "
                        "made non-allocated (gcwalk_unallocated_stackmaps(), docs/INTEGRATION.md)");
        sections_[sm].removed = true;
        for (uint32_t i = 1; i < sections_.size(); ++i) {
            const Elf64_Shdr& h = sections_[i].hdr;
            if ((h.sh_type == SHT_RELA || h.sh_type == SHT_REL) && h.sh_info == sm) {
                if (h.sh_flags & SHF_ALLOC)
                    return fail(describe(i) + " relocates .llvm_stackmaps and is allocated: it "
                                              "cannot be removed");
                sections_[i].removed = true;
            }
        }
        // What stays must not point at what goes.
        for (uint32_t i = 1; i < sections_.size(); ++i) {
            const Section& s = sections_[i];
            if (s.removed) continue;
            if (s.hdr.sh_type == SHT_GROUP || s.hdr.sh_type == SHT_SYMTAB_SHNDX)
                return fail(describe(i) + ": section groups and extended symbol section indexes "
                                          "are not supported");
            if (s.hdr.sh_link < sections_.size() && sections_[s.hdr.sh_link].removed)
                return fail(describe(i) + " links to " + describe(s.hdr.sh_link) +
                            ", which is to be removed");
            if ((s.hdr.sh_flags & SHF_INFO_LINK) && s.hdr.sh_info < sections_.size() &&
                sections_[s.hdr.sh_info].removed)
                return fail(describe(i) + " refers to " + describe(s.hdr.sh_info) +
                            ", which is to be removed");
        }
        uint32_t next = 0;
        new_index_.assign(sections_.size(), kNoIndex);
        for (uint32_t i = 0; i < sections_.size(); ++i)
            if (!sections_[i].removed) new_index_[i] = next++;
        return Status::ok();
    }

    uint32_t new_index(uint32_t old) const { return new_index_.empty() ? old : new_index_[old]; }
    bool any_removed() const { return !new_index_.empty(); }

    // Symbols hold section indexes: remapped. A .symtab symbol defined in a removed section
    // (`__LLVM_StackMaps`) is dropped with it; when relocation sections that stay refer to the
    // table's symbols by index (a link with --emit-relocs), it stays in place as SHN_ABS instead,
    // so that no index changes.
    Status remap_symbols() {
        if (!any_removed()) return Status::ok();
        for (uint32_t t = 1; t < sections_.size(); ++t) {
            Section& table = sections_[t];
            const uint32_t type = table.hdr.sh_type;
            if (table.removed || (type != SHT_SYMTAB && type != SHT_DYNSYM)) continue;
            if (table.hdr.sh_entsize != sizeof(Elf64_Sym) ||
                table.hdr.sh_size % sizeof(Elf64_Sym) != 0)
                return fail(describe(t) + format(": entry size %" PRIu64 ", expected %zu",
                                                 table.hdr.sh_entsize, sizeof(Elf64_Sym)));
            const bool indexed =
                std::any_of(sections_.begin(), sections_.end(), [t](const Section& r) {
                    return !r.removed && r.hdr.sh_link == t &&
                           (r.hdr.sh_type == SHT_RELA || r.hdr.sh_type == SHT_REL);
                });
            const uint64_t count = table.hdr.sh_size / sizeof(Elf64_Sym);
            std::vector<uint8_t> out;
            out.reserve(table.hdr.sh_size);
            uint64_t locals = 0;
            bool dropped = false;
            for (uint64_t k = 0; k < count; ++k) {
                auto sym = load<Elf64_Sym>(table.hdr.sh_offset + k * sizeof(Elf64_Sym));
                const uint32_t shndx = sym.st_shndx;
                if (shndx == SHN_XINDEX)
                    return fail(describe(t) + ": extended symbol section indexes are not "
                                              "supported");
                if (shndx != SHN_UNDEF && shndx < SHN_LORESERVE) {
                    if (shndx >= sections_.size())
                        return fail(describe(t) + format(": symbol %" PRIu64
                                                         " names section %u of %zu",
                                                         k, shndx, sections_.size()));
                    if (sections_[shndx].removed && type == SHT_DYNSYM)
                        return fail(describe(t) + format(": dynamic symbol %" PRIu64, k) +
                                    " is defined in " + describe(shndx) +
                                    ", which is to be removed");
                    if (sections_[shndx].removed && !indexed) {
                        dropped = true;
                        continue;
                    }
                    sym.st_shndx = sections_[shndx].removed
                                       ? static_cast<uint16_t>(SHN_ABS)
                                       : static_cast<uint16_t>(new_index(shndx));
                }
                if (k < table.hdr.sh_info) ++locals;
                const auto* p = reinterpret_cast<const uint8_t*>(&sym);
                out.insert(out.end(), p, p + sizeof sym);
            }
            if (dropped) {
                if (table.hdr.sh_flags & SHF_ALLOC)
                    return fail(describe(t) + " is allocated and would change size");
                table.hdr.sh_info = static_cast<uint32_t>(locals);
                table.hdr.sh_size = out.size();
            }
            table.contents = std::move(out);
            table.moved = dropped; // same size: written where it is (or moved with the others)
        }
        return Status::ok();
    }

    // `.gcwalk_frames`: the existing header takes the new contents, or a new one is appended
    // (its name added to the section name table when the table does not hold it yet).
    Status place_frame_table() {
        Elf64_Shdr h{};
        h.sh_type = SHT_PROGBITS;
        h.sh_addralign = 1;
        h.sh_size = edit_.frame_table.size();
        std::vector<uint8_t> bytes(edit_.frame_table.begin(), edit_.frame_table.end());
        if (!frames_.empty()) {
            Section& s = sections_[frames_[0]];
            if (s.hdr.sh_flags & SHF_ALLOC)
                return fail(describe(frames_[0]) + " is allocated: gcwalk-pack writes it "
                                                   "non-allocated and cannot replace this one");
            h.sh_name = s.hdr.sh_name;
            s.hdr = h;
            s.contents = std::move(bytes);
            s.moved = true;
            frame_table_ = frames_[0];
            return Status::ok();
        }
        Section& names = sections_[ehdr_.e_shstrndx];
        if (names.hdr.sh_flags & SHF_ALLOC) return fail("the section name table is allocated");
        const auto* begin = file_.data() + names.hdr.sh_offset;
        const std::string_view table(reinterpret_cast<const char*>(begin), names.hdr.sh_size);
        const std::string wanted = std::string(kFrameTableSection) + '\0';
        const size_t at = table.find(wanted); // a suffix of another name serves too
        if (at != std::string_view::npos) {
            h.sh_name = static_cast<uint32_t>(at);
        } else {
            std::vector<uint8_t> grown(begin, begin + names.hdr.sh_size);
            h.sh_name = static_cast<uint32_t>(grown.size());
            grown.insert(grown.end(), wanted.begin(), wanted.end());
            names.hdr.sh_size = grown.size();
            names.contents = std::move(grown);
            names.moved = true;
        }
        Section added;
        added.hdr = h;
        added.name = kFrameTableSection;
        added.contents = std::move(bytes);
        added.moved = true;
        sections_.push_back(std::move(added));
        frame_table_ = static_cast<uint32_t>(sections_.size() - 1);
        if (any_removed())
            new_index_.push_back(
                static_cast<uint32_t>(std::count_if(sections_.begin(), sections_.end() - 1,
                                                    [](const Section& s) { return !s.removed; })));
        return Status::ok();
    }

    std::span<const uint8_t> bytes_of(const Section& s) const {
        if (s.contents) return *s.contents;
        return file_.subspan(s.hdr.sh_offset, s.hdr.sh_size);
    }

    Expected<std::vector<uint8_t>> layout() {
        // Non-allocated sections after the loaded part move; the rest stays where it is.
        uint64_t fixed_end = loaded_end_;
        std::vector<uint32_t> movable;
        for (uint32_t i = 1; i < sections_.size(); ++i) {
            Section& s = sections_[i];
            if (s.removed || s.hdr.sh_type == SHT_NOBITS) continue;
            if (i < ehdr_.e_shnum && !(s.hdr.sh_flags & SHF_ALLOC) &&
                s.hdr.sh_offset >= loaded_end_)
                s.moved = true;
            if (s.moved && (s.hdr.sh_flags & SHF_ALLOC))
                return fail(describe(i) + " is allocated and would move");
            if (s.moved) {
                if (s.hdr.sh_addralign > kMaxAlignment)
                    return fail(describe(i) +
                                format(": alignment %" PRIu64 " is too large", s.hdr.sh_addralign));
                movable.push_back(i);
            } else {
                fixed_end = std::max(fixed_end, s.hdr.sh_offset + s.hdr.sh_size);
            }
        }
        // In file order, `.gcwalk_frames` last (where it goes whether it is new or replaced, so
        // that packing a packed file lays it out as packing the original does).
        std::stable_sort(movable.begin(), movable.end(), [&](uint32_t a, uint32_t b) {
            const bool fa = a == frame_table_, fb = b == frame_table_;
            if (fa != fb) return fb;
            return sections_[a].hdr.sh_offset < sections_[b].hdr.sh_offset;
        });

        std::vector<uint8_t> out(file_.begin(), file_.begin() + static_cast<long>(fixed_end));
        // Same-size new contents of sections that stay (remapped symbol indexes).
        for (uint32_t i = 1; i < sections_.size(); ++i) {
            const Section& s = sections_[i];
            if (!s.removed && !s.moved && s.contents)
                std::memcpy(out.data() + s.hdr.sh_offset, s.contents->data(), s.contents->size());
        }
        for (uint32_t i : movable) {
            Section& s = sections_[i];
            const std::span<const uint8_t> bytes = bytes_of(s);
            out.resize(align_up(out.size(), s.hdr.sh_addralign), 0);
            s.hdr.sh_offset = out.size();
            out.insert(out.end(), bytes.begin(), bytes.end());
        }
        out.resize(align_up(out.size(), 8), 0);

        Elf64_Ehdr ehdr = ehdr_;
        ehdr.e_shoff = out.size();
        uint32_t count = 0;
        for (uint32_t i = 0; i < sections_.size(); ++i) {
            Section& s = sections_[i];
            if (s.removed) continue;
            if (any_removed()) {
                if (s.hdr.sh_link != 0 && s.hdr.sh_link < ehdr_.e_shnum)
                    s.hdr.sh_link = new_index(s.hdr.sh_link);
                if ((s.hdr.sh_flags & SHF_INFO_LINK) || s.hdr.sh_type == SHT_REL ||
                    s.hdr.sh_type == SHT_RELA)
                    if (s.hdr.sh_info != 0 && s.hdr.sh_info < ehdr_.e_shnum)
                        s.hdr.sh_info = new_index(s.hdr.sh_info);
            }
            const auto* p = reinterpret_cast<const uint8_t*>(&s.hdr);
            out.insert(out.end(), p, p + sizeof s.hdr);
            ++count;
        }
        if (count >= SHN_LORESERVE)
            return fail(format("%u sections: extended section numbering is not supported", count));
        ehdr.e_shnum = static_cast<uint16_t>(count);
        ehdr.e_shstrndx = static_cast<uint16_t>(new_index(ehdr_.e_shstrndx));
        std::memcpy(out.data(), &ehdr, sizeof ehdr);
        return out;
    }

    std::span<const uint8_t> file_;
    std::string_view path_;
    const ElfEdit& edit_;
    Elf64_Ehdr ehdr_{};
    uint64_t loaded_end_ = 0;
    std::vector<Section> sections_;
    std::vector<uint32_t> frames_, stackmaps_;
    uint32_t frame_table_ = kNoIndex; // the `.gcwalk_frames` written
    std::vector<uint32_t> new_index_; // old index -> new (empty: nothing removed)
};

} // namespace

Expected<std::vector<uint8_t>> rewrite_elf(std::span<const uint8_t> file, std::string_view path,
                                           const ElfEdit& edit) {
    return Rewriter(file, path, edit).run();
}

} // namespace gcwalk::pack
