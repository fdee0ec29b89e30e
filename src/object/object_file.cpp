// read_stackmaps_from_file: finds `.llvm_stackmaps` in an ELF file with LLVM Object, decompresses
// it when SHF_COMPRESSED, and collects the relocations that apply to it, the function ranges and
// (from `.eh_frame`, with gcwalk's own CFI evaluator, as the runtime) the frame rule at every
// call site.
#include <gcwalk/detail/eh_frame_table.hpp>
#include <gcwalk/object_file.hpp>
#include <gcwalk/stackmap.hpp>

#include <llvm/ADT/SmallString.h>
#include <llvm/BinaryFormat/ELF.h>
#include <llvm/Object/Decompressor.h>
#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>

namespace gcwalk {
namespace {

using ELFT = llvm::object::ELF64LE;
using ELFFile = llvm::object::ELFFile<ELFT>;
using Shdr = ELFT::Shdr;

constexpr const char* kSectionName = ".llvm_stackmaps";
// A compressed header may claim any size; refuse to allocate more than this (stack maps of the
// largest programs are a few MB).
constexpr uint64_t kMaxDecompressedSize = uint64_t{1} << 30;
// The zeros a segment may hold past its file bytes (p_memsz - p_filesz) for the frame table: the
// segment with .eh_frame_hdr is read-only data, which linkers write with none.
constexpr uint64_t kMaxZeroFill = uint64_t{1} << 20;

Error make_error(const std::string& path, const std::string& what) {
    return Error{path + ": " + what};
}

Error take_error(const std::string& path, const std::string& context, llvm::Error err) {
    std::string msg = llvm::toString(std::move(err));
    return make_error(path, context.empty() ? msg : context + ": " + msg);
}

ObjectKind kind_of(const ELFFile& elf) {
    switch (elf.getHeader().e_type) {
    case llvm::ELF::ET_REL: return ObjectKind::Relocatable;
    case llvm::ELF::ET_EXEC: return ObjectKind::Executable;
    case llvm::ELF::ET_DYN: {
        // A PIE is ET_DYN too; GNU ld and lld mark it with DF_1_PIE.
        auto dyn = elf.dynamicEntries();
        if (!dyn) {
            llvm::consumeError(dyn.takeError());
            return ObjectKind::SharedObject;
        }
        for (const auto& d : *dyn)
            if (d.getTag() == llvm::ELF::DT_FLAGS_1 && (d.getVal() & llvm::ELF::DF_1_PIE))
                return ObjectKind::Executable;
        return ObjectKind::SharedObject;
    }
    default: return ObjectKind::Other;
    }
}

// The section's contents, decompressed when SHF_COMPRESSED.
Expected<std::vector<uint8_t>> section_bytes(const std::string& path, const ELFFile& elf,
                                             const Shdr& sec, bool* compressed) {
    auto contents = elf.getSectionContents(sec);
    if (!contents)
        return take_error(path, std::string("section ") + kSectionName, contents.takeError());
    *compressed = (sec.sh_flags & llvm::ELF::SHF_COMPRESSED) != 0;
    if (!*compressed) return std::vector<uint8_t>(contents->begin(), contents->end());

    // Elf64_Chdr: ch_type (4), ch_reserved (4), ch_size (8), ch_addralign (8).
    if (contents->size() < sizeof(llvm::ELF::Elf64_Chdr))
        return make_error(path, std::string("section ") + kSectionName +
                                    ": compressed section shorter than its header");
    llvm::ELF::Elf64_Chdr chdr;
    std::memcpy(&chdr, contents->data(), sizeof chdr);
    if (chdr.ch_size > kMaxDecompressedSize)
        return make_error(path, std::string("section ") + kSectionName + ": decompressed size " +
                                    std::to_string(chdr.ch_size) + " is too large");
    llvm::StringRef data(reinterpret_cast<const char*>(contents->data()), contents->size());
    auto dec = llvm::object::Decompressor::create(kSectionName, data, true, true);
    if (!dec) return take_error(path, std::string("section ") + kSectionName, dec.takeError());
    llvm::SmallString<0> out;
    if (auto err = dec->resizeAndDecompress(out))
        return take_error(path, std::string("section ") + kSectionName + ": decompressing",
                          std::move(err));
    return std::vector<uint8_t>(out.begin(), out.end());
}

// The name of a relocation's symbol: the symbol's own, or its section's for STT_SECTION.
std::string symbol_name(const ELFFile& elf, const Shdr& symtab, const ELFT::Sym& sym) {
    if (sym.getType() == llvm::ELF::STT_SECTION) {
        auto sec = elf.getSection(sym.st_shndx);
        if (!sec) {
            llvm::consumeError(sec.takeError());
            return {};
        }
        auto name = elf.getSectionName(**sec);
        if (!name) {
            llvm::consumeError(name.takeError());
            return {};
        }
        return name->str();
    }
    auto strtab = elf.getStringTableForSymtab(symtab);
    if (!strtab) {
        llvm::consumeError(strtab.takeError());
        return {};
    }
    auto name = sym.getName(*strtab);
    if (!name) {
        llvm::consumeError(name.takeError());
        return {};
    }
    return name->str();
}

// Relocations that patch the section: in a .o its SHT_RELA/SHT_REL (sh_info = the section); in a
// linked file the dynamic relocations whose address lies inside the section.
Status collect_relocations(const std::string& path, const ELFFile& elf,
                           llvm::ArrayRef<Shdr> sections, const Shdr& target, bool relocatable,
                           std::vector<SectionRelocation>& out) {
    const size_t target_index = static_cast<size_t>(&target - sections.data());
    // A linked file's non-allocated section is not loaded: no dynamic relocation applies to it
    // (its sh_addr is 0, so their addresses would only seem to fall inside it).
    if (!relocatable && (target.sh_flags & llvm::ELF::SHF_ALLOC) == 0) return Status::ok();
    const uint64_t begin = relocatable ? 0 : target.sh_addr;
    const uint64_t size = target.sh_size;
    for (const Shdr& sec : sections) {
        if (sec.sh_type != llvm::ELF::SHT_RELA && sec.sh_type != llvm::ELF::SHT_REL) continue;
        if (relocatable && sec.sh_info != target_index) continue;
        if (!relocatable && (sec.sh_flags & llvm::ELF::SHF_ALLOC) == 0) continue;
        const Shdr* symtab = nullptr;
        if (sec.sh_link != 0) {
            auto s = elf.getSection(sec.sh_link);
            if (!s) return take_error(path, "relocation section symbol table", s.takeError());
            symtab = *s;
        }
        auto add = [&](const ELFT::Rel& r, int64_t addend) -> Status {
            const uint64_t off = r.r_offset - begin;
            if (r.r_offset < begin || off >= size) return Status::ok();
            SectionRelocation rel{off, r.getType(false), {}, {}, 0, addend};
            llvm::SmallString<32> type_name;
            elf.getRelocationTypeName(rel.type, type_name);
            rel.type_name = type_name.str().str();
            if (symtab && r.getSymbol(false) != 0) {
                auto sym = elf.getRelocationSymbol(r, symtab);
                if (!sym)
                    return take_error(path, "relocation at section offset " + std::to_string(off),
                                      sym.takeError());
                if (*sym) {
                    rel.symbol = symbol_name(elf, *symtab, **sym);
                    rel.symbol_value = (*sym)->st_value;
                }
            }
            out.push_back(std::move(rel));
            return Status::ok();
        };
        if (sec.sh_type == llvm::ELF::SHT_RELA) {
            auto relas = elf.relas(sec);
            if (!relas) return take_error(path, "relocations", relas.takeError());
            for (const auto& r : *relas)
                if (auto st = add(r, r.r_addend); !st) return st;
        } else {
            auto rels = elf.rels(sec);
            if (!rels) return take_error(path, "relocations", rels.takeError());
            for (const auto& r : *rels)
                if (auto st = add(r, 0); !st) return st;
        }
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.offset < b.offset; });
    return Status::ok();
}

// Sized STT_FUNC symbols from .symtab, or .dynsym when the file is stripped.
void collect_symbols(const ELFFile& elf, llvm::ArrayRef<Shdr> sections,
                     std::vector<NamedFunctionRange>& out) {
    for (unsigned type : {llvm::ELF::SHT_SYMTAB, llvm::ELF::SHT_DYNSYM}) {
        for (const Shdr& sec : sections) {
            if (sec.sh_type != type) continue;
            auto syms = elf.symbols(&sec);
            if (!syms) {
                llvm::consumeError(syms.takeError());
                continue;
            }
            for (const auto& sym : *syms) {
                if (sym.getType() != llvm::ELF::STT_FUNC || sym.st_size == 0 ||
                    sym.st_shndx == llvm::ELF::SHN_UNDEF)
                    continue;
                out.push_back({sym.st_value, sym.st_size, symbol_name(elf, sec, sym)});
            }
        }
        if (!out.empty()) break;
    }
}

// The frame rule table of a linked file: its PT_GNU_EH_FRAME and the readable PT_LOAD segment
// holding it, the same two program headers src/discovery/image_registry.cpp picks on the loaded
// image. The segment is copied from the file as the loader would map it (zero-filled past
// p_filesz) and evaluated at link-time addresses by the runtime's own evaluator, so a rule shown
// here is exactly the rule the runtime gets at that address plus the load bias, and a refusal is
// the same refusal. (In a .o the FDE addresses are unapplied relocations: no table.)
Expected<EhFrameTable> open_frame_table(const std::string& path, const ELFFile& elf) {
    auto phdrs = elf.program_headers();
    if (!phdrs) return take_error(path, "program headers", phdrs.takeError());
    const ELFT::Phdr* hdr = nullptr;
    for (const ELFT::Phdr& ph : *phdrs)
        if (ph.p_type == llvm::ELF::PT_GNU_EH_FRAME) hdr = &ph;
    if (!hdr)
        return make_error(path, "no PT_GNU_EH_FRAME segment: frames are stepped by libunwind");
    const ELFT::Phdr* seg = nullptr;
    for (const ELFT::Phdr& ph : *phdrs)
        if (ph.p_type == llvm::ELF::PT_LOAD && (ph.p_flags & llvm::ELF::PF_R) &&
            hdr->p_vaddr >= ph.p_vaddr && hdr->p_vaddr - ph.p_vaddr < ph.p_memsz)
            seg = &ph;
    if (!seg) return make_error(path, "no readable PT_LOAD segment holds PT_GNU_EH_FRAME");
    // A corrupt header may claim any size; what lies past the file's bytes is zeros, and more of
    // them than this is no segment a linker writes.
    if (seg->p_offset > elf.getBufSize() || seg->p_filesz > elf.getBufSize() - seg->p_offset ||
        seg->p_filesz > seg->p_memsz || seg->p_memsz - seg->p_filesz > kMaxZeroFill)
        return make_error(path,
                          "the PT_LOAD segment holding PT_GNU_EH_FRAME lies outside the file");
    auto bytes = std::make_shared<std::vector<uint8_t>>(seg->p_memsz);
    std::memcpy(bytes->data(), elf.base() + seg->p_offset, seg->p_filesz);
    return EhFrameTable::open_copy(path, std::move(bytes), seg->p_vaddr, hdr->p_vaddr,
                                   hdr->p_memsz);
}

// FDE ranges that no sized symbol covers (a stripped file), unnamed.
void collect_fde_ranges(const EhFrameTable& table, std::vector<NamedFunctionRange>& out) {
    const size_t symbols = out.size();
    for (uint64_t i = 0; i < table.num_fdes(); ++i) {
        uint64_t start = 0, end = 0;
        if (!table.fde_at(i, &start, &end) || end <= start) continue;
        bool covered = std::any_of(out.begin(), out.begin() + static_cast<long>(symbols),
                                   [&](const NamedFunctionRange& s) {
                                       return start >= s.address && start < s.address + s.size;
                                   });
        if (!covered) out.push_back({start, end - start, {}});
    }
}

// The rule at the return address of every record of the (resolved) section, from the table's
// rule_at: what the runtime's compute_rules asks at load time. Refused sites keep the reason.
void collect_rules(const EhFrameTable& table, const std::vector<uint8_t>& resolved,
                   ObjectStackMaps& out) {
    auto blobs = parse_stackmap_section(resolved);
    if (!blobs) return; // reported by whoever parses the section
    for (const StackMapBlob& blob : *blobs) {
        for (uint32_t f = 0; f < blob.num_functions(); ++f) {
            const FunctionEntry fn = blob.function(f);
            for (uint64_t r = 0; r < fn.record_count; ++r) {
                const RecordView rec =
                    blob.record(static_cast<uint32_t>(blob.first_record_of(f) + r));
                const uint64_t ra = fn.address + rec.instruction_offset();
                auto rule = table.rule_at(ra);
                if (rule)
                    out.rules.emplace_back(ra, *rule);
                else
                    out.refused_rules.emplace_back(ra, std::move(rule).error().message);
            }
        }
    }
    // Sorted, one per address (records may share a return address).
    auto sort_unique = [](auto& v) {
        std::stable_sort(v.begin(), v.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        v.erase(std::unique(v.begin(), v.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }),
                v.end());
    };
    sort_unique(out.rules);
    sort_unique(out.refused_rules);
}

// The NT_GNU_BUILD_ID descriptor of the first SHT_NOTE section holding one (empty when none).
std::vector<uint8_t> build_id(const ELFFile& elf, llvm::ArrayRef<Shdr> sections) {
    for (const Shdr& sec : sections) {
        if (sec.sh_type != llvm::ELF::SHT_NOTE) continue;
        auto contents = elf.getSectionContents(sec);
        if (!contents) {
            llvm::consumeError(contents.takeError());
            continue;
        }
        // Elf64_Nhdr: namesz, descsz, type (4 bytes each), then the name and the descriptor,
        // each padded to 4 bytes.
        const uint8_t* p = contents->data();
        uint64_t left = contents->size();
        auto pad4 = [](uint64_t n) { return (n + 3) & ~uint64_t{3}; };
        while (left >= 12) {
            uint32_t namesz, descsz, type;
            std::memcpy(&namesz, p, 4);
            std::memcpy(&descsz, p + 4, 4);
            std::memcpy(&type, p + 8, 4);
            const uint64_t size = 12 + pad4(namesz) + pad4(descsz);
            if (size > left) break;
            if (type == llvm::ELF::NT_GNU_BUILD_ID && namesz == 4 &&
                std::memcmp(p + 12, "GNU", 4) == 0)
                return std::vector<uint8_t>(p + 12 + 4, p + 12 + 4 + descsz);
            p += size;
            left -= size;
        }
    }
    return {};
}

// What a packed frame table of this linked file describes (FrameTableIdentity).
Expected<FrameTableIdentity> file_identity(const std::string& path, const ELFFile& elf,
                                           llvm::ArrayRef<Shdr> sections) {
    FrameTableIdentity id;
    id.build_id = build_id(elf, sections);
    std::vector<const Shdr*> code;
    for (const Shdr& sec : sections)
        if ((sec.sh_flags & llvm::ELF::SHF_EXECINSTR) && (sec.sh_flags & llvm::ELF::SHF_ALLOC) &&
            sec.sh_type != llvm::ELF::SHT_NOBITS && sec.sh_size != 0)
            code.push_back(&sec);
    std::stable_sort(code.begin(), code.end(),
                     [](const Shdr* a, const Shdr* b) { return a->sh_addr < b->sh_addr; });
    for (const Shdr* sec : code) {
        auto contents = elf.getSectionContents(*sec);
        if (!contents) return take_error(path, "code section", contents.takeError());
        id.code.push_back({sec->sh_addr, sec->sh_size});
        id.code_hash = frame_table_hash(
            std::span<const uint8_t>(contents->data(), contents->size()), id.code_hash);
    }
    return id;
}

} // namespace

const char* to_string(ObjectKind kind) noexcept {
    switch (kind) {
    case ObjectKind::Relocatable: return "relocatable";
    case ObjectKind::Executable: return "executable";
    case ObjectKind::SharedObject: return "shared-object";
    case ObjectKind::Other: break;
    }
    return "other";
}

std::vector<uint8_t> ObjectStackMaps::resolved_bytes() const {
    std::vector<uint8_t> out = bytes;
    if (was_compressed)
        return out; // relocations against a compressed section are not something linkers emit
    for (const SectionRelocation& r : relocations) {
        uint64_t value;
        if (r.type == llvm::ELF::R_X86_64_64)
            value = r.symbol_value + static_cast<uint64_t>(r.addend);
        else if (r.type == llvm::ELF::R_X86_64_RELATIVE)
            value = static_cast<uint64_t>(r.addend); // load bias 0: link-time address
        else
            continue;
        if (r.offset > out.size() || out.size() - r.offset < 8) continue;
        std::memcpy(out.data() + r.offset, &value, 8);
    }
    return out;
}

ImageStackMaps ObjectStackMaps::to_image(int64_t load_bias) const {
    ImageStackMaps image;
    image.name = path;
    image.load_bias = load_bias;
    auto owned = std::make_shared<std::vector<uint8_t>>(resolved_bytes());
    image.section = std::span<const uint8_t>(owned->data(), owned->size());
    image.owner = owned;
    image.functions.reserve(functions.size());
    for (const NamedFunctionRange& f : functions)
        image.functions.push_back({f.address + static_cast<uint64_t>(load_bias), f.size});
    image.rules.reserve(rules.size());
    for (const auto& [ra, rule] : rules)
        image.rules.emplace_back(ra + static_cast<uint64_t>(load_bias), rule);
    return image;
}

Expected<ObjectStackMaps> read_stackmaps_from_file(const std::string& path) {
    auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                              /*RequiresNullTerminator=*/false);
    if (!buffer) return make_error(path, "cannot read: " + buffer.getError().message());
    auto binary = llvm::object::ObjectFile::createObjectFile((*buffer)->getMemBufferRef());
    if (!binary) return take_error(path, "not an object file", binary.takeError());
    const auto* elf_obj = llvm::dyn_cast<llvm::object::ELF64LEObjectFile>(binary->get());
    if (!elf_obj) return make_error(path, "not a 64-bit little-endian ELF file");
    const ELFFile& elf = elf_obj->getELFFile();

    ObjectStackMaps result;
    result.path = path;
    result.kind = kind_of(elf);
    result.relocatable = result.kind == ObjectKind::Relocatable;

    auto sections = elf.sections();
    if (!sections) return take_error(path, "section headers", sections.takeError());

    const Shdr* stackmaps = nullptr;
    const Shdr* frame_table = nullptr;
    for (const Shdr& sec : *sections) {
        auto name = elf.getSectionName(sec);
        if (!name) return take_error(path, "section names", name.takeError());
        if (*name == kSectionName && !stackmaps) stackmaps = &sec;
        if (*name == kFrameTableSection && !frame_table) frame_table = &sec;
    }
    if (frame_table) {
        if (frame_table->sh_type == llvm::ELF::SHT_NOBITS)
            return make_error(path, std::string("section ") + kFrameTableSection +
                                        " has no contents (SHT_NOBITS)");
        auto contents = elf.getSectionContents(*frame_table);
        if (!contents)
            return take_error(path, std::string("section ") + kFrameTableSection,
                              contents.takeError());
        result.has_frame_table = true;
        result.frame_table_file_offset = frame_table->sh_offset;
        result.frame_table_bytes.assign(contents->begin(), contents->end());
    }
    if (!result.relocatable) {
        auto id = file_identity(path, elf, *sections);
        if (!id) return std::move(id).error();
        result.identity = std::move(*id);
    }

    collect_symbols(elf, *sections, result.functions);
    std::optional<EhFrameTable> table;
    if (!result.relocatable) {
        auto opened = open_frame_table(path, elf);
        if (opened) {
            table = std::move(*opened);
            collect_fde_ranges(*table, result.functions);
        } else {
            result.rules_problem = opened.error().message;
        }
    }
    std::sort(result.functions.begin(), result.functions.end(), [](const auto& a, const auto& b) {
        return a.address != b.address ? a.address < b.address : a.name < b.name;
    });
    // Aliases (several names for one range) keep the first name.
    result.functions.erase(std::unique(result.functions.begin(), result.functions.end(),
                                       [](const auto& a, const auto& b) {
                                           return a.address == b.address && a.size == b.size;
                                       }),
                           result.functions.end());

    if (!stackmaps) return result;
    if (stackmaps->sh_type == llvm::ELF::SHT_NOBITS)
        return make_error(path,
                          std::string("section ") + kSectionName + " has no contents (SHT_NOBITS)");
    result.has_section = true;
    result.section_allocated = (stackmaps->sh_flags & llvm::ELF::SHF_ALLOC) != 0;
    result.section_file_offset = stackmaps->sh_offset;
    result.section_address = stackmaps->sh_addr;
    result.section_size_in_file = stackmaps->sh_size;
    auto bytes = section_bytes(path, elf, *stackmaps, &result.was_compressed);
    if (!bytes) return std::move(bytes).error();
    result.bytes = std::move(*bytes);
    if (auto st = collect_relocations(path, elf, *sections, *stackmaps, result.relocatable,
                                      result.relocations);
        !st)
        return Error{st.message()};
    if (table) collect_rules(*table, result.resolved_bytes(), result);
    return result;
}

} // namespace gcwalk
