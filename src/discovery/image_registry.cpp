// Finds the stack maps of every loaded image and of JIT blobs, and publishes immutable indexes.
#include <gcwalk/detail/eh_frame_table.hpp>
#include <gcwalk/detail/format.hpp>
#include <gcwalk/detail/native_frames.hpp>
#include <gcwalk/frame_chunks.hpp>
#include <gcwalk/frame_table.hpp>
#include <gcwalk/image_registry.hpp>

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>

namespace gcwalk {

namespace {

// Reads exactly `size` bytes at `offset`, or fails.
bool read_at(int fd, void* dst, size_t size, uint64_t offset) {
    auto* p = static_cast<char*>(dst);
    while (size > 0) {
        ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
        if (n <= 0) return false;
        p += n;
        size -= static_cast<size_t>(n);
        offset += static_cast<uint64_t>(n);
    }
    return true;
}

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

constexpr const char* kSectionName = ".llvm_stackmaps";

// Appends the STT_FUNC symbols of a symbol table section (absolute addresses).
void read_function_symbols(int fd, uint64_t file_size, const Elf64_Shdr& symtab, uint64_t bias,
                           std::vector<FunctionRange>* out) {
    if (symtab.sh_entsize != sizeof(Elf64_Sym) || symtab.sh_offset > file_size ||
        symtab.sh_size > file_size - symtab.sh_offset)
        return;
    size_t count = symtab.sh_size / sizeof(Elf64_Sym);
    std::vector<Elf64_Sym> syms(count);
    if (!read_at(fd, syms.data(), count * sizeof(Elf64_Sym), symtab.sh_offset)) return;
    for (const Elf64_Sym& s : syms)
        if (ELF64_ST_TYPE(s.st_info) == STT_FUNC && s.st_shndx != SHN_UNDEF && s.st_value != 0 &&
            s.st_size != 0)
            out->push_back({s.st_value + bias, s.st_size});
}

// An ELF file's section headers and section names, read once, every bound checked.
struct ElfSections {
    Fd f;
    uint64_t file_size = 0;
    std::vector<Elf64_Shdr> sh; // empty when the file has no section headers
    std::vector<char> names;    // the section name table, NUL-terminated
    uint64_t names_size = 0;

    // Opens `path` and reads its section headers (messages name `path`).
    Status open(const std::string& path) {
        f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (f.fd < 0) return Error{path + ": cannot open: " + std::strerror(errno)};
        off_t end = ::lseek(f.fd, 0, SEEK_END);
        if (end < 0) return Error{path + ": cannot seek: " + std::strerror(errno)};
        file_size = static_cast<uint64_t>(end);
        Elf64_Ehdr eh;
        if (!read_at(f.fd, &eh, sizeof eh, 0)) return Error{path + ": too short for an ELF header"};
        if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
            eh.e_ident[EI_DATA] != ELFDATA2LSB)
            return Error{path + ": not a 64-bit little-endian ELF file"};
        if (eh.e_shoff == 0 || eh.e_shnum == 0) return {}; // no section headers
        if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff > file_size ||
            uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr) > file_size - eh.e_shoff)
            return Error{path + ": section header table at offset " + hex(eh.e_shoff) +
                         " is out of bounds"};
        sh.resize(eh.e_shnum);
        if (!read_at(f.fd, sh.data(), sh.size() * sizeof(Elf64_Shdr), eh.e_shoff))
            return Error{path + ": cannot read the section headers at offset " + hex(eh.e_shoff)};
        if (eh.e_shstrndx >= sh.size())
            return Error{path + ": section name table index " + std::to_string(eh.e_shstrndx) +
                         " is out of range"};
        const Elf64_Shdr& strtab = sh[eh.e_shstrndx];
        if (!in_file(strtab) || strtab.sh_size > (64u << 20))
            return Error{path + ": section name table at offset " + hex(strtab.sh_offset) +
                         " is out of bounds"};
        names.assign(strtab.sh_size + 1, '\0');
        names_size = strtab.sh_size;
        if (!read_at(f.fd, names.data(), strtab.sh_size, strtab.sh_offset))
            return Error{path + ": cannot read the section name table"};
        return {};
    }
    bool named(const Elf64_Shdr& s, const char* name) const {
        return s.sh_name < names_size && std::strcmp(names.data() + s.sh_name, name) == 0;
    }
    bool in_file(const Elf64_Shdr& s) const {
        return s.sh_offset <= file_size && s.sh_size <= file_size - s.sh_offset;
    }
    // The last section named `name` (nullptr when none), and how many there are.
    const Elf64_Shdr* find(const char* name, size_t* count) const {
        const Elf64_Shdr* found = nullptr;
        *count = 0;
        for (const Elf64_Shdr& s : sh)
            if (named(s, name)) found = &s, ++*count;
        return found;
    }
    // A non-allocated section's bytes, from the file (the caller checked in_file()).
    bool read(const Elf64_Shdr& s, std::vector<uint8_t>* out) const {
        out->resize(s.sh_size);
        return read_at(f.fd, out->data(), s.sh_size, s.sh_offset);
    }
};

// Reads non-allocated section `name` from the file into *out, every bound checked.
Status read_unallocated(const ElfSections& elf, const Elf64_Shdr& s, const std::string& path,
                        const char* name, std::vector<uint8_t>* out) {
    if (!elf.in_file(s))
        return Error{path + ": " + name + " at offset " + hex(s.sh_offset) + " of size " +
                     hex(s.sh_size) + " runs past the end of the file (" + hex(elf.file_size) +
                     " bytes)"};
    if (!elf.read(s, out))
        return Error{path + ": cannot read " + name + " at offset " + hex(s.sh_offset) + " (" +
                     hex(s.sh_size) + " bytes)"};
    return {};
}

} // namespace

Expected<std::span<const uint8_t>> find_loaded_stackmaps(const std::string& path,
                                                         uint64_t load_bias,
                                                         std::vector<FunctionRange>* functions,
                                                         bool* section_found,
                                                         std::vector<uint8_t>* file_bytes) {
    if (section_found) *section_found = false;
    ElfSections elf;
    if (auto st = elf.open(path); !st) return Error{st.message()};
    if (elf.sh.empty()) return std::span<const uint8_t>{};
    const uint64_t file_size = elf.file_size;
    const std::vector<Elf64_Shdr>& sh = elf.sh;
    Fd& f = elf.f;

    const Elf64_Shdr* found = nullptr;
    const Elf64_Shdr* symtab = nullptr;
    const Elf64_Shdr* dynsym = nullptr;
    size_t sections = 0;
    for (const Elf64_Shdr& s : sh) {
        if (s.sh_type == SHT_SYMTAB) symtab = &s;
        if (s.sh_type == SHT_DYNSYM) dynsym = &s;
    }
    found = elf.find(kSectionName, &sections);
    if (!found || found->sh_type == SHT_NOBITS || found->sh_size == 0)
        return std::span<const uint8_t>{};
    if (section_found) *section_found = true;
    // GNU ld keeps an allocated and a non-allocated input section apart: two output sections of
    // the name, each with some of the image's functions. Reading one would miss the other's roots.
    if (sections > 1)
        return Error{path + ": " + std::to_string(sections) + " sections named " + kSectionName +
                     " (objects with the section allocated and objects with it not allocated "
                     "linked together?): make it non-allocated in every managed object, or in "
                     "none"};
    const bool allocated = (found->sh_flags & SHF_ALLOC) != 0;
    if (!allocated && !file_bytes)
        return Error{path + ": " + kSectionName +
                     " is not an allocated section, so it is not in memory"};
    if (found->sh_flags & SHF_COMPRESSED)
        return Error{path + ": " + kSectionName + " is compressed" +
                     (allocated ? " in memory" : " in the file")};
    if (!allocated) {
        // Not in memory: its bytes (link-time addresses) come from the file, every bound checked.
        if (auto st = read_unallocated(elf, *found, path, kSectionName, file_bytes); !st)
            return Error{st.message()};
    }

    if (functions) {
        if (symtab) read_function_symbols(f.fd, file_size, *symtab, load_bias, functions);
        if (dynsym) read_function_symbols(f.fd, file_size, *dynsym, load_bias, functions);
        std::sort(
            functions->begin(), functions->end(),
            [](const FunctionRange& a, const FunctionRange& b) { return a.address < b.address; });
        functions->erase(std::unique(functions->begin(), functions->end(),
                                     [](const FunctionRange& a, const FunctionRange& b) {
                                         return a.address == b.address;
                                     }),
                         functions->end());
    }
    if (!allocated) return std::span<const uint8_t>(*file_bytes);
    auto* mem = reinterpret_cast<const uint8_t*>(found->sh_addr + load_bias);
    return std::span<const uint8_t>(mem, found->sh_size);
}

namespace {
ImageStackMaps to_input(const ImageRegistry::Image& img);
bool indexable(const ImageRegistry::Image& img);
} // namespace

struct ImageRegistry::Image {
    std::string name;
    uint64_t base = 0; // load bias (dlpi_addr); 0 for JIT blobs
    bool is_jit = false;
    JitHandle jit = 0;
    bool seen = false;          // found by the current scan
    std::vector<uint8_t> owned; // JIT bytes
    // A non-allocated section's bytes, read from the file; shared with every index built from
    // them (ImageStackMaps::owner), so a retired index stays valid after the image is dropped.
    std::shared_ptr<const std::vector<uint8_t>> from_file;
    std::span<const uint8_t> section;
    // Its blobs, parsed once when the image is found: the checks below and every index built
    // while the image stays loaded use them (ImageStackMaps::blobs).
    std::shared_ptr<const std::vector<StackMapBlob>> blobs;
    // Its .gcwalk_frames table (checked against the loaded code): indexed instead of `section`.
    std::shared_ptr<const FrameTable> table;
    bool has_stackmaps = false; // the file has a non-empty section (usable or not)
    std::vector<FunctionRange> functions;
    // Executable segments (absolute), for telling relocated addresses from unrelocated ones.
    std::vector<std::pair<uint64_t, uint64_t>> text;
    std::string problem; // why the image is not indexed (empty when it is)
    // Exact frame rules per call site, from the image's .eh_frame (or handed over by a JIT).
    std::vector<std::pair<uint64_t, FrameRule>> rules;
    // Its .eh_frame_hdr (every loaded image, managed or not), for the fast walker's native frames.
    std::optional<EhFrameTable> eh;
};

ImageRegistry::ImageRegistry() {
    owned_current_ = std::make_unique<FrameIndex>(std::move(FrameIndex::build({}).value()));
    current_.store(owned_current_.get(), std::memory_order_release);
}

ImageRegistry::~ImageRegistry() = default;

namespace {

struct LoadedImage {
    std::string name;
    uint64_t base;
    std::vector<std::pair<uint64_t, uint64_t>> text;
    uint64_t eh_hdr = 0, eh_hdr_size = 0; // PT_GNU_EH_FRAME (absolute), 0 when absent
    uint64_t eh_lo = 0, eh_hi = 0;        // the PT_LOAD segment that holds it
    std::vector<std::pair<uint64_t, uint64_t>> segments; // every PT_LOAD segment (absolute)
    std::vector<uint8_t> build_id; // its NT_GNU_BUILD_ID note, from memory; empty when none
};

// The NT_GNU_BUILD_ID descriptor of a loaded PT_NOTE segment, or false.
bool build_id_of(const uint8_t* p, uint64_t size, uint64_t align, std::vector<uint8_t>* out) {
    auto up = [&](uint64_t n) { return (n + align - 1) & ~(align - 1); };
    for (uint64_t at = 0; at <= size && size - at >= 12;) {
        uint32_t namesz, descsz, type;
        std::memcpy(&namesz, p + at, 4);
        std::memcpy(&descsz, p + at + 4, 4);
        std::memcpy(&type, p + at + 8, 4);
        const uint64_t desc = at + 12 + up(namesz), next = desc + up(descsz);
        if (next > size) return false;
        if (type == NT_GNU_BUILD_ID && namesz == 4 && std::memcmp(p + at + 12, "GNU", 4) == 0) {
            out->assign(p + desc, p + desc + descsz);
            return true;
        }
        at = next;
    }
    return false;
}

int collect_image(struct dl_phdr_info* info, size_t, void* data) {
    auto* out = static_cast<std::vector<LoadedImage>*>(data);
    LoadedImage li{info->dlpi_name ? info->dlpi_name : "", info->dlpi_addr, {}};
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto& ph = info->dlpi_phdr[i];
        if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X))
            li.text.emplace_back(ph.p_vaddr + info->dlpi_addr,
                                 ph.p_vaddr + info->dlpi_addr + ph.p_memsz);
        if (ph.p_type == PT_LOAD)
            li.segments.emplace_back(ph.p_vaddr + info->dlpi_addr,
                                     ph.p_vaddr + info->dlpi_addr + ph.p_memsz);
        if (ph.p_type == PT_GNU_EH_FRAME) {
            li.eh_hdr = ph.p_vaddr + info->dlpi_addr;
            li.eh_hdr_size = ph.p_memsz;
        }
    }
    // Notes are read from memory: only those inside a loaded segment (an odd file may have one
    // that is not loaded).
    for (int i = 0; i < info->dlpi_phnum && li.build_id.empty(); ++i) {
        const auto& ph = info->dlpi_phdr[i];
        const uint64_t at = info->dlpi_addr + ph.p_vaddr;
        if (ph.p_type != PT_NOTE || at == 0) continue;
        bool loaded = false;
        for (auto [lo, hi] : li.segments) loaded |= at >= lo && at <= hi && ph.p_memsz <= hi - at;
        if (loaded)
            build_id_of(reinterpret_cast<const uint8_t*>(at), ph.p_memsz, ph.p_align == 8 ? 8 : 4,
                        &li.build_id);
    }
    for (int i = 0; i < info->dlpi_phnum && li.eh_hdr; ++i) {
        const auto& ph = info->dlpi_phdr[i];
        const uint64_t lo = ph.p_vaddr + info->dlpi_addr;
        if (ph.p_type == PT_LOAD && (ph.p_flags & PF_R) && li.eh_hdr >= lo &&
            li.eh_hdr - lo < ph.p_memsz) {
            li.eh_lo = lo;
            li.eh_hi = lo + ph.p_memsz;
        }
    }
    out->push_back(std::move(li));
    return 0;
}

// The main executable's path (dl_iterate_phdr names it ""), for opening it and for messages.
std::string self_exe_path() {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return "/proc/self/exe";
    return std::string(buf, static_cast<size_t>(n));
}

bool in_text(const std::vector<std::pair<uint64_t, uint64_t>>& text, uint64_t a) {
    for (auto [lo, hi] : text)
        if (a >= lo && a < hi) return true;
    return false;
}

// Checks that every function address of a section's blobs lies in the image's code. A section
// read from memory holds final addresses: one that parses but whose addresses are link-time
// values (lld leaves them unrelocated) is refused. A section read from the file (`from_file`)
// holds link-time addresses: each plus `bias` must be in the code, or the file is not the one
// that was loaded (rebuilt or replaced since).
std::string check_addresses(const std::string& name, const std::vector<StackMapBlob>& blobs,
                            uint64_t bias, const std::vector<std::pair<uint64_t, uint64_t>>& text,
                            bool from_file = false) {
    for (const auto& blob : blobs) {
        for (uint32_t f = 0; f < blob.num_functions(); ++f) {
            const uint64_t a = blob.function(f).address + (from_file ? bias : 0);
            if (in_text(text, a)) continue;
            std::string where = name + ": blob " + std::to_string(blob.index_in_section()) +
                                " function " + std::to_string(f) + ": address " + hex(a);
            if (from_file && blob.function(f).address == 0)
                return where + ": its link-time address in the non-allocated " + kSectionName +
                       " is 0, the linker discarded the function (--gc-sections does not keep "
                       "what only a non-allocated section refers to; see docs/INTEGRATION.md)";
            if (from_file)
                return where + " (link-time " + hex(blob.function(f).address) + " + load bias " +
                       hex(bias) + ") of the non-allocated " + kSectionName +
                       " lies outside the image's executable segments: the file is not the one "
                       "that was loaded (rebuilt or replaced since?)";
            if (bias != 0 && in_text(text, a + bias))
                return where +
                       " is unrelocated in memory (the linker resolved it at link time but left no "
                       "dynamic relocation: lld without -z notext, or a read-only section; make "
                       ".llvm_stackmaps writable or link with GNU ld; see docs/INTEGRATION.md)";
            return where + " lies outside the image's executable segments";
        }
    }
    return {};
}

// The exact frame rule of every call site of an image's (checked) blobs, from its .eh_frame
// (a loaded image's or a JIT object's). Call sites whose CFI cannot be used keep no rule (the
// index then derives one from the stack size and the fast walker hands such frames to
// libunwind); the first reason is kept. Functions that no symbol sized (a stripped image, a JIT
// object without sizes) get their range from their FDE. `functions` is sorted by address.
// `bias` is added to the blobs' function addresses (non-zero for a section read from the file).
std::vector<std::pair<uint64_t, FrameRule>> compute_rules(const EhFrameTable& table,
                                                          const std::vector<StackMapBlob>& blobs,
                                                          std::vector<FunctionRange>* functions,
                                                          std::string* problem, uint64_t bias) {
    std::vector<std::pair<uint64_t, FrameRule>> rules;
    size_t failed = 0, total = 0;
    for (const auto& blob : blobs) {
        for (uint32_t f = 0; f < blob.num_functions(); ++f) {
            const uint64_t fa = blob.function(f).address + bias;
            const uint64_t first = blob.first_record_of(f);
            auto known =
                std::lower_bound(functions->begin(), functions->end(), fa,
                                 [](const FunctionRange& x, uint64_t a) { return x.address < a; });
            uint64_t start = 0, end = 0;
            if ((known == functions->end() || known->address != fa) &&
                table.fde_range(fa, &start, &end) && start == fa)
                functions->insert(known, FunctionRange{fa, end - start});
            for (uint64_t r = 0; r < blob.function(f).record_count; ++r) {
                const uint64_t ra = fa + blob.record(first + r).instruction_offset();
                ++total;
                auto rule = table.rule_at(ra);
                if (rule) {
                    rules.emplace_back(ra, *rule);
                } else if (failed++ == 0) {
                    *problem = rule.error().message;
                }
            }
        }
    }
    if (failed)
        *problem = table.name() + ": " + std::to_string(failed) + " of " + std::to_string(total) +
                   " call sites have no CFI frame rule (stepped by libunwind); first: " + *problem;
    return rules;
}

// compute_rules for a loaded image, through its .eh_frame_hdr.
std::vector<std::pair<uint64_t, FrameRule>> compute_rules(const LoadedImage& li,
                                                          const std::vector<StackMapBlob>& blobs,
                                                          std::vector<FunctionRange>* functions,
                                                          std::string* problem, uint64_t bias) {
    if (li.eh_hdr == 0 || li.eh_lo == 0) {
        *problem = li.name + ": no PT_GNU_EH_FRAME segment: frames are stepped by libunwind";
        return {};
    }
    auto table = EhFrameTable::open(li.name, li.eh_hdr, li.eh_hdr_size, li.eh_lo, li.eh_hi);
    if (!table) {
        *problem = table.error().message;
        return {};
    }
    return compute_rules(*table, blobs, functions, problem, bias);
}

// GCWALK_FRAME_TABLE=0 ignores .gcwalk_frames (every image is indexed from .llvm_stackmaps).
bool frame_tables_enabled() {
    const char* v = std::getenv("GCWALK_FRAME_TABLE");
    return !(v && std::strcmp(v, "0") == 0);
}

bool inside(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, uint64_t lo, uint64_t size) {
    for (auto [a, b] : ranges)
        if (lo >= a && lo <= b && size <= b - lo) return true;
    return false;
}

// The image's .gcwalk_frames table, checked against the loaded image (build ID, and the hash of
// its code in memory), or nullptr: with *problem empty when the file has no table, else why it
// cannot be used. Reads the section from memory when it is allocated, else from the file.
std::shared_ptr<const FrameTable>
read_frame_table(const std::string& open_path, const std::string& name, const LoadedImage& li,
                 const std::vector<std::pair<uint64_t, uint64_t>>& text, std::string* problem) {
    ElfSections elf;
    size_t count = 0;
    if (!elf.open(open_path) || elf.sh.empty()) return nullptr; // the stack map path says why
    const Elf64_Shdr* s = elf.find(kFrameTableSection, &count);
    if (!s || s->sh_size == 0) return nullptr;
    const std::string what = name + ": " + kFrameTableSection;
    auto fail = [&](const std::string& why) {
        *problem = why + " (" + kFrameTableSection + " not used)";
        return nullptr;
    };
    if (count > 1) return fail(what + ": " + std::to_string(count) + " sections of the name");
    if (s->sh_type == SHT_NOBITS || (s->sh_flags & SHF_COMPRESSED))
        return fail(what + ": a section without contents or compressed by the linker");
    std::vector<uint8_t> from_file;
    std::span<const uint8_t> bytes;
    if (s->sh_flags & SHF_ALLOC) {
        if (!inside(li.segments, s->sh_addr + li.base, s->sh_size))
            return fail(what + " at " + hex(s->sh_addr + li.base) + " (" + hex(s->sh_size) +
                        " bytes) is not inside a loaded segment");
        bytes = {reinterpret_cast<const uint8_t*>(s->sh_addr + li.base), s->sh_size};
    } else {
        if (auto st = read_unallocated(elf, *s, name, kFrameTableSection, &from_file); !st)
            return fail(st.message());
        bytes = from_file;
    }
    // The cold tables (what record() reads, not the walk) stay compressed until first asked.
    auto table = read_frame_table_section(bytes, name, /*defer_cold=*/true);
    if (!table) return fail(table.error().message);
    // The build IDs first (the clearest message), then where the code is, then its hash.
    if (std::string why = check_build_id(table->identity, li.build_id); !why.empty())
        return fail(name + ": " + why);
    uint64_t i = 0;
    for (const auto& c : table->identity.code) {
        if (!inside(text, c.address + li.base, c.size))
            return fail(what + ": code range " + std::to_string(i) + " at " + hex(c.address) +
                        " + load bias " + hex(li.base) + " (" + hex(c.size) +
                        " bytes) is not inside the image's executable segments: the table is "
                        "not for this build; re-run gcwalk-pack");
        ++i;
    }
    if (std::string why = check_identity(table->identity, li.build_id, li.base); !why.empty())
        return fail(name + ": " + why);
    return std::make_shared<const FrameTable>(std::move(*table));
}

void read_llvm_stackmaps(ImageRegistry::Image& img, LoadedImage& li, const std::string& open_path,
                         std::shared_ptr<std::vector<uint8_t>> file_bytes,
                         std::vector<std::string>* diagnostics);

// Reads, parses (once: the checks, the rules and every index built from now on read these
// blobs) and checks the stack maps of a newly loaded image; sets img.problem when they cannot
// be indexed.
void read_stackmaps(ImageRegistry::Image& img, LoadedImage& li,
                    std::vector<std::string>* diagnostics) {
    auto file_bytes = std::make_shared<std::vector<uint8_t>>();
    // The main program is read through /proc/self/exe: the file it was loaded from, even when
    // its path names a newer build by now. Messages name the path.
    const bool main_program = li.name.empty();
    const std::string open_path = main_program ? "/proc/self/exe" : img.name;
    std::string table_problem;
    if (frame_tables_enabled()) {
        img.table = read_frame_table(open_path, img.name, li, img.text, &table_problem);
        if (img.table) {
            img.has_stackmaps = true;
            diagnostics->push_back(img.name + ": indexed from " + kFrameTableSection + " (" +
                                   std::to_string(img.table->sites.size()) + " call sites)");
            return;
        }
    }
    read_llvm_stackmaps(img, li, open_path, file_bytes, diagnostics);
    if (table_problem.empty()) return;
    // A table that cannot be used and no stack maps to fall back to: the roots are unknown.
    if (img.section.empty() && img.problem.empty()) {
        img.problem = table_problem + " (and the image has no " + kSectionName + ")";
        img.has_stackmaps = true;
    } else {
        diagnostics->push_back(table_problem);
    }
}

// read_stackmaps from .llvm_stackmaps (parsed, checked, CFI rules computed).
void read_llvm_stackmaps(ImageRegistry::Image& img, LoadedImage& li, const std::string& open_path,
                         std::shared_ptr<std::vector<uint8_t>> file_bytes,
                         std::vector<std::string>* diagnostics) {
    const bool main_program = li.name.empty();
    auto sec = find_loaded_stackmaps(open_path, li.base, &img.functions, &img.has_stackmaps,
                                     file_bytes.get());
    if (!sec) {
        img.problem = sec.error().message;
        if (main_program && img.problem.rfind(open_path + ":", 0) == 0)
            img.problem = img.name + img.problem.substr(open_path.size());
        return;
    }
    img.section = *sec;
    if (!file_bytes->empty()) img.from_file = std::move(file_bytes);
    // Addresses read from the file are link-time values: the load bias moves them.
    const uint64_t bias = img.from_file ? li.base : 0;
    if (img.section.empty()) return;
    auto blobs = parse_stackmap_section(img.section, img.name);
    if (!blobs) {
        img.problem = blobs.error().message;
        return;
    }
    img.blobs = std::make_shared<const std::vector<StackMapBlob>>(std::move(*blobs));
    img.problem =
        check_addresses(img.name, *img.blobs, li.base, img.text, img.from_file != nullptr);
    if (!img.problem.empty()) return;
    std::string note;
    li.name = img.name;
    img.rules = compute_rules(li, *img.blobs, &img.functions, &note, bias);
    if (!note.empty()) diagnostics->push_back(note);
}

// A newly loaded image, found at `path`: its native frames' table and its stack maps.
std::unique_ptr<ImageRegistry::Image> open_image(LoadedImage& li, const std::string& path,
                                                 std::vector<std::string>* diagnostics) {
    auto img = std::make_unique<ImageRegistry::Image>();
    img->name = path;
    img->base = li.base;
    img->seen = true;
    img->text = std::move(li.text);
    if (li.eh_hdr != 0 && li.eh_lo != 0) {
        auto eh = EhFrameTable::open(path, li.eh_hdr, li.eh_hdr_size, li.eh_lo, li.eh_hi);
        if (eh)
            img->eh = std::move(*eh);
        else
            diagnostics->push_back(eh.error().message +
                                   " (its native frames are stepped by libunwind)");
    }
    if (path.rfind("linux-vdso", 0) == 0 || path.rfind("linux-gate", 0) == 0)
        return img; // no file behind it, and no stack maps
    read_stackmaps(*img, li, diagnostics);
    if (!img->problem.empty()) diagnostics->push_back(img->problem);
    if (img->section.empty() || !img->problem.empty()) img->functions.clear();
    return img;
}

} // namespace

Status ImageRegistry::rescan() {
    std::lock_guard lock(mutex_);
    std::vector<LoadedImage> loaded;
    dl_iterate_phdr(collect_image, &loaded);

    for (auto& img : images_) img->seen = img->is_jit;
    bool changed = false;
    for (LoadedImage& li : loaded) {
        std::string path = li.name;
        if (path.empty()) path = self_exe_path();
        auto it =
            std::find_if(images_.begin(), images_.end(), [&](const std::unique_ptr<Image>& i) {
                return !i->is_jit && i->base == li.base && i->name == path;
            });
        if (it != images_.end()) {
            (*it)->seen = true;
            continue;
        }
        images_.push_back(open_image(li, path, &diagnostics_));
        changed = true; // a new image: its native frames join the published index
    }
    auto gone =
        std::remove_if(images_.begin(), images_.end(), [&](const std::unique_ptr<Image>& i) {
            if (i->seen) return false;
            changed = true;
            return true;
        });
    images_.erase(gone, images_.end());
    return changed ? publish_locked() : Status{};
}

Expected<ImageRegistry::JitHandle>
ImageRegistry::add_jit(std::string name, std::span<const uint8_t> bytes,
                       std::vector<FunctionRange> functions,
                       std::vector<std::pair<uint64_t, FrameRule>> rules) {
    auto img = std::make_unique<Image>();
    img->name = std::move(name);
    img->owned.assign(bytes.begin(), bytes.end());
    img->section = img->owned;
    img->functions = std::move(functions);
    img->rules = std::move(rules);
    for (auto& r : img->rules) r.second.flags |= kRuleFromCfi;
    auto blobs = parse_stackmap_section(img->section, img->name);
    if (!blobs) return Error{blobs.error().message};
    img->blobs = std::make_shared<const std::vector<StackMapBlob>>(std::move(*blobs));
    std::lock_guard lock(mutex_);
    return add_jit_locked(std::move(img));
}

Expected<ImageRegistry::JitHandle> ImageRegistry::add_jit_object(std::string name,
                                                                 const JitObject& object) {
    auto img = std::make_unique<Image>();
    img->name = std::move(name);
    auto table = EhFrameTable::open_eh_frame(img->name, object.eh_frame, object.eh_frame_address);
    if (!table) return Error{table.error().message};
    // Its code: every FDE's range and every range handed over, merged where they overlap.
    std::vector<FunctionRange>& fns = img->functions;
    fns = object.functions;
    for (uint64_t i = 0; i < table->num_fdes(); ++i) {
        uint64_t start = 0, end = 0;
        if (table->fde_at(i, &start, &end) && end > start) img->text.emplace_back(start, end);
    }
    for (const FunctionRange& f : fns)
        if (f.size != 0) img->text.emplace_back(f.address, f.address + f.size);
    std::sort(img->text.begin(), img->text.end());
    std::sort(fns.begin(), fns.end(),
              [](const FunctionRange& a, const FunctionRange& b) { return a.address < b.address; });
    if (!object.stackmaps.empty()) {
        img->owned.assign(object.stackmaps.begin(), object.stackmaps.end());
        img->section = img->owned;
        auto blobs = parse_stackmap_section(img->section, img->name);
        if (!blobs) return Error{blobs.error().message};
        img->blobs = std::make_shared<const std::vector<StackMapBlob>>(std::move(*blobs));
        if (std::string bad = check_addresses(img->name, *img->blobs, 0, img->text); !bad.empty())
            return Error{bad + " (no FDE in its .eh_frame and no function range covers it)"};
        std::string note;
        img->rules = compute_rules(*table, *img->blobs, &fns, &note, 0);
        if (!note.empty()) {
            std::lock_guard lock(mutex_);
            diagnostics_.push_back(note);
        }
    }
    img->eh = std::move(*table);
    std::lock_guard lock(mutex_);
    return add_jit_locked(std::move(img));
}

Expected<ImageRegistry::JitHandle> ImageRegistry::add_jit_locked(std::unique_ptr<Image> img) {
    img->is_jit = true;
    img->seen = true;
    img->jit = next_jit_++;
    if (!img->section.empty()) {
        // Refuse stack maps that cannot be indexed on their own before they touch the published
        // index.
        std::vector<ImageStackMaps> alone;
        alone.push_back(to_input(*img));
        if (auto idx = FrameIndex::build(std::move(alone)); !idx) return Error{idx.error().message};
    }
    JitHandle h = img->jit;
    images_.push_back(std::move(img));
    if (auto st = publish_locked(); !st) {
        images_.pop_back();
        return Error{st.message()};
    }
    return h;
}

Status ImageRegistry::remove_jit(JitHandle handle) {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(images_.begin(), images_.end(), [&](const std::unique_ptr<Image>& i) {
        return i->is_jit && i->jit == handle;
    });
    if (it == images_.end())
        return Error{"no JIT stack maps with handle " + std::to_string(handle)};
    // The bytes must outlive every index that points into them: retire the image with the index.
    std::unique_ptr<Image> dead = std::move(*it);
    images_.erase(it);
    Status st = publish_locked();
    if (!st) {
        images_.push_back(std::move(dead));
        return st;
    }
    retired_images_.push_back(std::move(dead));
    return st;
}

Status ImageRegistry::publish_locked() {
    auto inputs = [&] {
        std::vector<ImageStackMaps> in;
        for (const auto& img : images_)
            if (indexable(*img)) in.push_back(to_input(*img));
        return in;
    };
    auto index = FrameIndex::build(inputs());
    if (!index) {
        // Find the images that cannot be indexed on their own, set them aside, and try again
        // without them: one bad image must not hide the stack maps of the others.
        for (auto& img : images_) {
            if (!indexable(*img)) continue;
            std::vector<ImageStackMaps> one;
            one.push_back(to_input(*img));
            if (auto alone = FrameIndex::build(std::move(one)); !alone) {
                img->problem = alone.error().message;
                diagnostics_.push_back(img->problem);
            }
        }
        index = FrameIndex::build(inputs());
        if (!index) {
            diagnostics_.push_back(index.error().message);
            return Error{index.error().message};
        }
    }
    auto next = std::make_unique<FrameIndex>(std::move(*index));
    std::vector<NativeFrames::Image> native;
    for (const auto& img : images_)
        if (img->eh) native.push_back({*img->eh, img->text});
    next->set_native_frames(std::make_shared<const NativeFrames>(std::move(native)));
    current_.store(next.get(), std::memory_order_release);
    retired_.push_back(std::move(owned_current_));
    owned_current_ = std::move(next);
    return {};
}

namespace {

// The image has stack maps or a table, and nothing kept it from being indexed.
bool indexable(const ImageRegistry::Image& img) {
    return (!img.section.empty() || img.table) && img.problem.empty();
}

ImageStackMaps to_input(const ImageRegistry::Image& img) {
    ImageStackMaps m;
    m.name = img.name;
    if (img.table) { // link-time addresses, moved by the load bias
        m.load_bias = static_cast<int64_t>(img.base);
        m.table = img.table;
        return m;
    }
    // Read from memory (or handed over by a JIT): the addresses are final. Read from the file:
    // link-time addresses, moved by the image's load bias.
    m.load_bias = img.from_file ? static_cast<int64_t>(img.base) : 0;
    m.section = img.section;
    m.owner = img.from_file;
    m.blobs = img.blobs;
    m.functions = img.functions;
    m.rules = img.rules;
    return m;
}

} // namespace

void ImageRegistry::reclaim() {
    std::lock_guard lock(mutex_);
    retired_.clear();
    retired_images_.clear();
}

std::vector<ImageRegistry::SkippedImage> ImageRegistry::skipped() const {
    std::lock_guard lock(mutex_);
    std::vector<SkippedImage> out;
    for (const auto& img : images_)
        if ((img->has_stackmaps || !img->section.empty() || img->table) && !img->problem.empty())
            out.push_back({img->name, img->problem});
    return out;
}

std::vector<std::string> ImageRegistry::diagnostics() const {
    std::lock_guard lock(mutex_);
    return diagnostics_;
}

} // namespace gcwalk
