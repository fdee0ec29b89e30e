// The frame rule of a call site comes from one translation of CFI, whichever path asks: for every
// linked fixture, the rule read_stackmaps_from_file reports at each record's return address (what
// gcwalk-dump --view=frames prints) equals what the runtime's path gives at that address plus the
// load bias, and the sites one refuses, the other refuses for the same reason.
//
// The runtime's path is taken on the loaded image: the shared objects are dlopen'ed (and, for
// the fixture shared objects, also indexed by a real ImageRegistry); executables, which cannot be
// dlopen'ed, are laid out in memory as the loader maps them (each PT_LOAD at its address plus a
// bias, zero-filled past its file size). Either way EhFrameTable::open is given the program
// headers image_registry.cpp picks, at absolute addresses.
#include "agreement_files.hpp"

#include <gcwalk/detail/eh_frame_table.hpp>
#include <gcwalk/detail/format.hpp>
#include <gcwalk/image_registry.hpp>
#include <gcwalk/object_file.hpp>
#include <gcwalk/stackmap.hpp>

#include <gcwalk_fixtures.hpp>

#include <catch2/catch.hpp>

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace gcwalk;
namespace fx = gcwalk::fixtures;

namespace {

// The PT_GNU_EH_FRAME of one loaded image and the PT_LOAD that holds it, chosen as
// image_registry.cpp's collect_image chooses them (absolute addresses).
struct LoadedFrames {
    uint64_t bias = 0;
    uint64_t hdr = 0, hdr_size = 0;
    uint64_t lo = 0, hi = 0;
};

LoadedFrames pick_headers(const Elf64_Phdr* phdr, size_t n, uint64_t bias) {
    LoadedFrames out;
    out.bias = bias;
    for (size_t i = 0; i < n; ++i)
        if (phdr[i].p_type == PT_GNU_EH_FRAME) {
            out.hdr = phdr[i].p_vaddr + bias;
            out.hdr_size = phdr[i].p_memsz;
        }
    for (size_t i = 0; i < n && out.hdr; ++i) {
        const uint64_t lo = phdr[i].p_vaddr + bias;
        if (phdr[i].p_type == PT_LOAD && (phdr[i].p_flags & PF_R) && out.hdr >= lo &&
            out.hdr - lo < phdr[i].p_memsz) {
            out.lo = lo;
            out.hi = lo + phdr[i].p_memsz;
        }
    }
    return out;
}

// A dlopen'ed library, found among the loaded images by its name.
struct Dlopened {
    void* handle = nullptr;
    LoadedFrames frames;
    ~Dlopened() {
        if (handle) dlclose(handle);
    }
};

std::unique_ptr<Dlopened> load_library(const std::string& path) {
    auto lib = std::make_unique<Dlopened>();
    lib->handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    INFO(path << ": " << (lib->handle ? "" : dlerror()));
    REQUIRE(lib->handle != nullptr);
    struct Search {
        const std::string* path;
        LoadedFrames* out;
        bool found;
    } search{&path, &lib->frames, false};
    dl_iterate_phdr(
        [](struct dl_phdr_info* info, size_t, void* data) {
            auto* s = static_cast<Search*>(data);
            if (!info->dlpi_name || *s->path != info->dlpi_name) return 0;
            *s->out = pick_headers(info->dlpi_phdr, info->dlpi_phnum, info->dlpi_addr);
            s->found = true;
            return 1;
        },
        &search);
    REQUIRE(search.found);
    return lib;
}

// A file laid out in anonymous memory as the loader maps it: each PT_LOAD's file bytes at
// p_vaddr + bias, zeros past them (the loader's mapping without its protections).
struct LaidOut {
    void* base = MAP_FAILED;
    size_t size = 0;
    LoadedFrames frames;
    ~LaidOut() {
        if (base != MAP_FAILED) munmap(base, size);
    }
};

std::unique_ptr<LaidOut> lay_out(const std::string& path) {
    auto out = std::make_unique<LaidOut>();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    Elf64_Ehdr eh;
    REQUIRE(pread(fd, &eh, sizeof eh, 0) == static_cast<ssize_t>(sizeof eh));
    std::vector<Elf64_Phdr> ph(eh.e_phnum);
    const ssize_t ph_bytes = static_cast<ssize_t>(ph.size() * sizeof(Elf64_Phdr));
    REQUIRE(pread(fd, ph.data(), static_cast<size_t>(ph_bytes), static_cast<off_t>(eh.e_phoff)) ==
            ph_bytes);
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    uint64_t lo = ~uint64_t{0}, hi = 0;
    for (const Elf64_Phdr& p : ph)
        if (p.p_type == PT_LOAD) {
            lo = std::min(lo, p.p_vaddr & ~(page - 1));
            hi = std::max(hi, p.p_vaddr + p.p_memsz);
        }
    REQUIRE(lo < hi);
    out->size = static_cast<size_t>(hi - lo);
    out->base =
        mmap(nullptr, out->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(out->base != MAP_FAILED);
    const uint64_t bias = reinterpret_cast<uint64_t>(out->base) - lo;
    for (const Elf64_Phdr& p : ph)
        if (p.p_type == PT_LOAD)
            REQUIRE(pread(fd, reinterpret_cast<void*>(p.p_vaddr + bias), p.p_filesz,
                          static_cast<off_t>(p.p_offset)) == static_cast<ssize_t>(p.p_filesz));
    ::close(fd);
    out->frames = pick_headers(ph.data(), ph.size(), bias);
    return out;
}

// Every record's return address (link-time) in the file's section, with how many records have it.
std::map<uint64_t, size_t> record_addresses(const ObjectStackMaps& file) {
    std::map<uint64_t, size_t> out;
    const std::vector<uint8_t> resolved = file.resolved_bytes();
    auto blobs = parse_stackmap_section(resolved, file.path);
    REQUIRE(blobs.has_value());
    for (const StackMapBlob& blob : *blobs)
        for (uint32_t f = 0; f < blob.num_functions(); ++f)
            for (uint64_t r = 0; r < blob.function(f).record_count; ++r)
                ++out[blob.function(f).address +
                      blob.record(static_cast<uint32_t>(blob.first_record_of(f) + r))
                          .instruction_offset()];
    return out;
}

bool same_rule(const FrameRule& a, const FrameRule& b) {
    return a.cfa_offset == b.cfa_offset && a.cfa_reg == b.cfa_reg && a.flags == b.flags &&
           std::memcmp(a.saved, b.saved, sizeof a.saved) == 0;
}

// A refusal from the file, as the loaded image words it: the FDE's and the return address's
// link-time addresses moved by the bias (everything else, the FDE's offset in its segment
// included, is the same).
std::string at_bias(std::string why, uint64_t ra, uint64_t bias) {
    auto move = [&](const std::string& before, uint64_t address) {
        const std::string from = before + hex(address), to = before + hex(address + bias);
        const size_t at = why.find(from);
        if (at != std::string::npos) why.replace(at, from.size(), to);
    };
    const std::string fde_at = ": FDE at ";
    const size_t at = why.find(fde_at);
    if (at != std::string::npos)
        move(fde_at, std::stoull(why.substr(at + fde_at.size()), nullptr, 16));
    move("return address ", ra);
    return why;
}

struct Compared {
    size_t addresses = 0, rules = 0, refused = 0, refused_records = 0;
};

// The object reader's rules and refusals against EhFrameTable::open on the loaded image.
Compared compare_with_loaded(const ObjectStackMaps& file, const LoadedFrames& loaded) {
    REQUIRE(loaded.hdr != 0);
    REQUIRE(loaded.lo < loaded.hi);
    INFO(file.path << " (" << file.rules_problem << ")");
    REQUIRE(file.rules_problem.empty());
    auto table = EhFrameTable::open(file.path, loaded.hdr, loaded.hdr_size, loaded.lo, loaded.hi);
    REQUIRE(table.has_value());
    const auto records = record_addresses(file);
    // One entry per distinct return address, in exactly one of the two lists.
    CHECK(file.rules.size() + file.refused_rules.size() == records.size());
    std::map<uint64_t, FrameRule> rules(file.rules.begin(), file.rules.end());
    std::map<uint64_t, std::string> refused(file.refused_rules.begin(), file.refused_rules.end());
    Compared c;
    for (const auto& [ra, count] : records) {
        INFO("return address " << hex(ra) << " (+ bias " << hex(loaded.bias) << ")");
        auto runtime = table->rule_at(ra + loaded.bias);
        ++c.addresses;
        if (auto it = rules.find(ra); it != rules.end()) {
            CHECK(refused.count(ra) == 0);
            INFO((runtime ? std::string() : runtime.error().message));
            REQUIRE(runtime.has_value());
            CHECK(same_rule(*runtime, it->second));
            ++c.rules;
        } else {
            auto why = refused.find(ra);
            REQUIRE(why != refused.end());
            REQUIRE_FALSE(runtime.has_value());
            CHECK(runtime.error().message == at_bias(why->second, ra, loaded.bias));
            ++c.refused;
            c.refused_records += count;
        }
    }
    return c;
}

// The object reader's rules and refusals against a real ImageRegistry's index of the process, in
// which the library is loaded: a CFI rule where the file has one, a rule derived from the stack
// size where it refuses, and the registry's count of refused call sites.
void compare_with_registry(const ObjectStackMaps& file, uint64_t bias, const Compared& c) {
    ImageRegistry registry;
    REQUIRE(registry.rescan());
    const FrameIndex& index = registry.index();
    std::map<uint64_t, FrameRule> rules(file.rules.begin(), file.rules.end());
    for (const auto& [ra, count] : record_addresses(file)) {
        INFO("return address " << hex(ra));
        const CallSite* cs = index.find(ra + bias);
        REQUIRE(cs != nullptr);
        const FrameRule& rule = index.rule(*cs);
        if (auto it = rules.find(ra); it != rules.end())
            CHECK(same_rule(rule, it->second));
        else
            CHECK((rule.flags & kRuleFromCfi) == 0);
    }
    const std::vector<std::string> notes = registry.diagnostics();
    const std::string prefix = file.path + ": " + std::to_string(c.refused_records) + " of ";
    const bool counted = std::any_of(notes.begin(), notes.end(), [&](const std::string& n) {
        return n.rfind(prefix, 0) == 0 &&
               n.find("call sites have no CFI frame rule") != std::string::npos;
    });
    CHECK(counted == (c.refused > 0));
}

Compared check_library(const std::string& path, bool with_registry) {
    auto file = read_stackmaps_from_file(path);
    REQUIRE(file.has_value());
    REQUIRE(file->has_section);
    auto lib = load_library(path);
    const Compared c = compare_with_loaded(*file, lib->frames);
    if (with_registry) compare_with_registry(*file, lib->frames.bias, c);
    // Laid out by hand too (at another bias): the same answers.
    auto copy = lay_out(path);
    const Compared again = compare_with_loaded(*file, copy->frames);
    CHECK(again.rules == c.rules);
    CHECK(again.refused == c.refused);
    return c;
}

Compared check_laid_out(const std::string& path) {
    auto file = read_stackmaps_from_file(path);
    REQUIRE(file.has_value());
    REQUIRE(file->has_section);
    auto image = lay_out(path);
    return compare_with_loaded(*file, image->frames);
}

void report(const std::string& path, const Compared& c) {
    std::printf("%s: %zu return addresses, %zu rules, %zu refused\n", path.c_str(), c.addresses,
                c.rules, c.refused);
}

} // namespace

TEST_CASE("the fixture shared object: the same rule at every return address, dlopen'ed and in the "
          "registry") {
    const Compared c = check_library(fx::kSharedObject, true);
    report(fx::kSharedObject, c);
    CHECK(c.addresses >= 20);
    CHECK(c.rules == c.addresses); // LLVM's own CFI: nothing refused
}

TEST_CASE(
    "refused CFI: the same sites refused for the same reasons, dlopen'ed and in the registry") {
    const Compared c = check_library(GCWALK_CFI_REFUSED_SO, true);
    report(GCWALK_CFI_REFUSED_SO, c);
    // cfi_refused.ll: two call sites in each of seven functions; cr_plain and cr_cfa_rbx accepted.
    CHECK(c.addresses == 14);
    CHECK(c.rules == 4);
    CHECK(c.refused == 10);
    auto file = read_stackmaps_from_file(GCWALK_CFI_REFUSED_SO);
    REQUIRE(file.has_value());
    std::string all;
    for (const auto& [ra, why] : file->refused_rules) all += why + "\n";
    for (const char* reason :
         {"callee-saved register 3 is undefined", "the CFA is a DWARF expression",
          "callee-saved register 12 has a rule other than same-value or offset",
          "the return address is not saved at CFA-8", "register 6 saved at CFA8, outside"})
        CHECK(all.find(reason) != std::string::npos);
    // The CFA of cr_cfa_rbx is RBX-based: a rule the evaluator accepts.
    CHECK(std::any_of(file->rules.begin(), file->rules.end(), [](const auto& r) {
        return r.second.cfa_reg == kDwarfRbx && r.second.cfa_offset == 16;
    }));
}

TEST_CASE("the fixture executable, laid out as loaded: the same rule at every return address") {
    const Compared c = check_laid_out(fx::kExecutable);
    report(fx::kExecutable, c);
    CHECK(c.addresses >= 20);
    CHECK(c.rules == c.addresses);
}

TEST_CASE("the e2e programs, laid out as loaded: the same rule at every return address") {
    size_t files = 0, addresses = 0;
    for (const char* const* path = kE2eFiles; *path; ++path) {
        INFO(*path);
        const Compared c = check_laid_out(*path);
        report(*path, c);
        CHECK(c.addresses > 0);
        ++files;
        addresses += c.addresses;
    }
    std::printf("e2e: %zu files, %zu return addresses\n", files, addresses);
    if (files == 0) WARN("no e2e programs in this build (GCWALK_BUILD_RUNTIME=OFF)");
}
