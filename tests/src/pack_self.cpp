// The registry probe's "--pack FILE" mode: packs the probe's own stack maps (as the registry
// indexed them from .llvm_stackmaps, CFI rules included) into a .gcwalk_frames section's bytes,
// with the identity read from its own file (build ID note, executable sections hashed), so that
// the build can add the section to a copy of the probe (objcopy --add-section) before gcwalk-pack
// exists to do it.
#include <gcwalk/frame_chunks.hpp>
#include <gcwalk/frame_table.hpp>
#include <gcwalk/image_registry.hpp>

#include <elf.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

template <class T> T at(const std::vector<uint8_t>& f, uint64_t off) {
    T v;
    if (off > f.size() || sizeof v > f.size() - off) throw std::runtime_error("truncated ELF");
    std::memcpy(&v, f.data() + off, sizeof v);
    return v;
}

// The identity of the ELF file `f` (its bytes), as a packer computes it from the file.
gcwalk::FrameTableIdentity identity_of(const std::vector<uint8_t>& f) {
    gcwalk::FrameTableIdentity id;
    const auto eh = at<Elf64_Ehdr>(f, 0);
    std::vector<Elf64_Shdr> sh;
    for (unsigned i = 0; i < eh.e_shnum; ++i)
        sh.push_back(at<Elf64_Shdr>(f, eh.e_shoff + uint64_t{i} * sizeof(Elf64_Shdr)));
    for (const Elf64_Shdr& s : sh) {
        if (s.sh_type == SHT_NOTE && id.build_id.empty()) {
            for (uint64_t p = s.sh_offset; p + 12 <= s.sh_offset + s.sh_size;) {
                const auto namesz = at<uint32_t>(f, p), descsz = at<uint32_t>(f, p + 4),
                           type = at<uint32_t>(f, p + 8);
                const uint64_t desc = p + 12 + ((namesz + 3) & ~3u);
                if (type == NT_GNU_BUILD_ID && namesz == 4 && at<uint32_t>(f, p + 12) == 0x554e47)
                    id.build_id.assign(f.begin() + static_cast<long>(desc),
                                       f.begin() + static_cast<long>(desc + descsz));
                p = desc + ((descsz + 3) & ~3u);
            }
        }
        if ((s.sh_flags & SHF_EXECINSTR) && s.sh_type != SHT_NOBITS && s.sh_size > 0)
            id.code.push_back({s.sh_addr, s.sh_size});
    }
    std::sort(id.code.begin(), id.code.end(),
              [](const auto& a, const auto& b) { return a.address < b.address; });
    for (const Elf64_Shdr& s : sh)
        if ((s.sh_flags & SHF_EXECINSTR) && s.sh_type != SHT_NOBITS && s.sh_size > 0 &&
            s.sh_offset + s.sh_size > f.size())
            throw std::runtime_error("a code section past the file's end");
    for (const auto& c : id.code)
        for (const Elf64_Shdr& s : sh)
            if (s.sh_addr == c.address && (s.sh_flags & SHF_EXECINSTR) && s.sh_size == c.size)
                id.code_hash =
                    gcwalk::frame_table_hash({f.data() + s.sh_offset, s.sh_size}, id.code_hash);
    return id;
}

} // namespace

int pack_self(const char* out_path) {
    char self[4096];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    const std::string path(self, static_cast<size_t>(n));
    std::ifstream in(path, std::ios::binary);
    const std::vector<uint8_t> file{std::istreambuf_iterator<char>(in), {}};

    gcwalk::ImageRegistry registry;
    if (auto st = registry.rescan(); !st)
        return std::fprintf(stderr, "%s\n", st.message().c_str()), 1;
    for (const gcwalk::ImageStackMaps& img : registry.index().images()) {
        if (img.name != path || img.section.empty()) continue;
        auto table = gcwalk::pack_frame_table(img, identity_of(file));
        if (!table) return std::fprintf(stderr, "%s\n", table.error().message.c_str()), 1;
        auto payload = gcwalk::write_frame_table(*table);
        if (!payload) return std::fprintf(stderr, "%s\n", payload.error().message.c_str()), 1;
        std::vector<uint8_t> z(compressBound(payload->size()));
        uLongf zn = z.size();
        // GCWALK_PACK_LEVEL=0: stored blocks, so that the section's size depends only on the
        // table's counts (a placeholder of that size can be linked in and replaced).
        const char* level = std::getenv("GCWALK_PACK_LEVEL");
        if (compress2(z.data(), &zn, payload->data(), payload->size(),
                      level ? std::atoi(level) : 9) != Z_OK)
            return 1;
        z.resize(zn);
        std::vector<uint8_t> section;
        gcwalk::append_frame_chunk(section, payload->size(), z);
        std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(section.data()),
                  static_cast<std::streamsize>(section.size()));
        std::printf("packed %zu call sites: %zu payload bytes, %zu section bytes\n",
                    table->records.size(), payload->size(), section.size());
        return out.good() ? 0 : 1;
    }
    std::fprintf(stderr, "%s: no stack maps of its own\n", path.c_str());
    return 1;
}
