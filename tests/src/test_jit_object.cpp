// ImageRegistry::add_jit_object and EhFrameTable::open_eh_frame on real bytes at their final
// addresses: this executable's own .llvm_stackmaps and .eh_frame (llc-compiled managed functions
// linked in), handed over as a JIT would hand over an object, must give the same function ranges
// and frame rules as the loaded-image path (rescan) gives for the same call sites.
#include "index_functions.hpp"

#include <gcwalk/detail/eh_frame_table.hpp>
#include <gcwalk/detail/format.hpp>
#include <gcwalk/detail/native_frames.hpp>
#include <gcwalk/image_registry.hpp>

#include <catch2/catch.hpp>

#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

std::string self_path() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    REQUIRE(n > 0);
    return std::string(buf, static_cast<size_t>(n));
}

uint64_t self_bias() {
    uint64_t bias = 0;
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* out) {
            *static_cast<uint64_t*>(out) = info->dlpi_addr;
            return 1; // the first entry is the executable
        },
        &bias);
    return bias;
}

// This executable's .eh_frame, where the loader put it.
std::span<const uint8_t> self_eh_frame() {
    std::ifstream f(self_path(), std::ios::binary | std::ios::ate);
    std::vector<char> file(static_cast<size_t>(f.tellg()));
    f.seekg(0);
    f.read(file.data(), static_cast<std::streamsize>(file.size()));
    REQUIRE(file.size() > sizeof(Elf64_Ehdr));
    Elf64_Ehdr eh;
    std::memcpy(&eh, file.data(), sizeof eh);
    std::vector<Elf64_Shdr> sh(eh.e_shnum);
    std::memcpy(sh.data(), file.data() + eh.e_shoff, sh.size() * sizeof(Elf64_Shdr));
    const char* names = file.data() + sh[eh.e_shstrndx].sh_offset;
    for (const Elf64_Shdr& s : sh)
        if (std::strcmp(names + s.sh_name, ".eh_frame") == 0)
            return {reinterpret_cast<const uint8_t*>(s.sh_addr + self_bias()), s.sh_size};
    FAIL("no .eh_frame in " << self_path());
    return {};
}

gcwalk::ImageRegistry::JitObject self_as_jit_object() {
    gcwalk::ImageRegistry::JitObject obj;
    auto maps = gcwalk::find_loaded_stackmaps(self_path(), self_bias(), nullptr);
    REQUIRE(maps);
    REQUIRE(!maps->empty());
    obj.stackmaps = *maps;
    obj.eh_frame = self_eh_frame();
    obj.eh_frame_address = reinterpret_cast<uintptr_t>(obj.eh_frame.data());
    return obj;
}

bool same_rule(const gcwalk::FrameRule& a, const gcwalk::FrameRule& b) {
    return a.cfa_reg == b.cfa_reg && a.cfa_offset == b.cfa_offset && a.flags == b.flags &&
           std::memcmp(a.saved, b.saved, sizeof a.saved) == 0;
}

[[gnu::noinline]] uint64_t return_address_here() {
    return reinterpret_cast<uint64_t>(__builtin_return_address(0));
}

} // namespace

TEST_CASE("a JIT object's call sites get the rules and ranges the loaded-image path computes",
          "[jit_object]") {
    gcwalk::ImageRegistry loaded;
    REQUIRE(loaded.rescan());
    gcwalk::ImageRegistry jit;
    auto h = jit.add_jit_object("self-as-jit", self_as_jit_object());
    INFO((h ? std::string() : h.error().message));
    REQUIRE(h);

    const auto fns = {reinterpret_cast<uint64_t>(&idx_two_roots),
                      reinterpret_cast<uint64_t>(&idx_no_roots),
                      reinterpret_cast<uint64_t>(&idx_make_pair)};
    size_t compared = 0;
    for (uint64_t fn : fns) {
        const gcwalk::FrameRecord* a = loaded.index().function_containing(fn);
        const gcwalk::FrameRecord* b = jit.index().function_containing(fn);
        REQUIRE(a);
        REQUIRE(b);
        CHECK(b->function_address == a->function_address);
        CHECK(b->function_size == a->function_size); // symbols there, FDEs here
        CHECK((b->flags & gcwalk::kFrameHasRule) != 0);
        CHECK(b->num_records == a->num_records);
    }
    for (const gcwalk::CallSite& cs : loaded.index().call_sites()) {
        const gcwalk::FrameRecord* f = loaded.index().frame(cs);
        if (!f || loaded.index().images()[f->image].name != self_path()) continue;
        const gcwalk::CallSite* other = jit.index().find(cs.return_address());
        REQUIRE(other);
        CHECK(other->num_roots() == cs.num_roots());
        CHECK(same_rule(jit.index().rule(*other), loaded.index().rule(cs)));
        CHECK((jit.index().rule(*other).flags & gcwalk::kRuleFromCfi) != 0);
        ++compared;
    }
    CHECK(compared == 5); // 2 + 1 + 2 statepoints
    REQUIRE(jit.remove_jit(*h));
    CHECK(jit.index().num_call_sites() == 0);
    jit.reclaim();
}

TEST_CASE("a JIT object's functions without stack maps are native frames with CFI rules",
          "[jit_object]") {
    gcwalk::ImageRegistry loaded;
    REQUIRE(loaded.rescan());
    gcwalk::ImageRegistry jit;
    auto obj = self_as_jit_object();
    obj.stackmaps = {}; // native code only
    auto h = jit.add_jit_object("native-only", obj);
    INFO((h ? std::string() : h.error().message));
    REQUIRE(h);
    CHECK(jit.index().num_call_sites() == 0);
    const uint64_t ra = return_address_here();
    gcwalk::FrameRule a{}, b{};
    REQUIRE(loaded.index().native_frames()->lookup(ra, loaded.index(), &a) ==
            gcwalk::NativeFrames::Kind::Rule);
    REQUIRE(jit.index().native_frames()->lookup(ra, jit.index(), &b) ==
            gcwalk::NativeFrames::Kind::Rule);
    CHECK(same_rule(a, b));
    // Removed: its native frames are gone from the next index.
    REQUIRE(jit.remove_jit(*h));
    CHECK(jit.index().native_frames()->lookup(ra, jit.index(), &b) ==
          gcwalk::NativeFrames::Kind::Libunwind);
    jit.reclaim();
}

TEST_CASE("open_eh_frame finds every FDE of the section and names bad bytes", "[jit_object]") {
    const std::span<const uint8_t> eh = self_eh_frame();
    const uint64_t at = reinterpret_cast<uintptr_t>(eh.data());
    auto table = gcwalk::EhFrameTable::open_eh_frame("self", eh, at);
    INFO((table ? std::string() : table.error().message));
    REQUIRE(table);
    CHECK(table->num_fdes() > 10);
    uint64_t start = 0, end = 0, fde = 0, prev = 0;
    for (uint64_t i = 0; i < table->num_fdes(); ++i) {
        REQUIRE(table->fde_at(i, &start, &end, &fde));
        CHECK(start >= prev); // sorted
        CHECK(fde >= at);
        CHECK(fde < at + eh.size());
        prev = start;
    }
    uint64_t s = 0, e = 0;
    REQUIRE(table->fde_range(reinterpret_cast<uint64_t>(&idx_no_roots), &s, &e));
    CHECK(s == reinterpret_cast<uint64_t>(&idx_no_roots));

    // Cut in the middle of the second entry: its length runs past the end.
    uint32_t first_len = 0;
    std::memcpy(&first_len, eh.data(), 4);
    const size_t cut = 4 + first_len + 6;
    auto truncated = gcwalk::EhFrameTable::open_eh_frame("cut", eh.first(cut), at);
    REQUIRE(!truncated);
    CHECK(truncated.error().message ==
          "cut: .eh_frame at " + gcwalk::hex(at) + " (" + std::to_string(cut) + " bytes), offset " +
              gcwalk::hex(4 + first_len) + ": entry length runs past the end of the section");
    // Three bytes of an entry: too short for its length.
    auto stub = gcwalk::EhFrameTable::open_eh_frame("stub", eh.first(3), at);
    REQUIRE(!stub);
    CHECK(stub.error().message == "stub: .eh_frame at " + gcwalk::hex(at) +
                                      " (3 bytes), offset 0x0: truncated entry (3 bytes left)");
    // An FDE whose CIE pointer points before the section.
    std::vector<uint8_t> bad(eh.begin(), eh.end());
    const uint32_t huge = 0x7fffffff;
    std::memcpy(&bad[4 + first_len + 4], &huge, 4);
    auto corrupt = gcwalk::EhFrameTable::open_eh_frame("corrupt", bad,
                                                       reinterpret_cast<uintptr_t>(bad.data()));
    REQUIRE(!corrupt);
    CHECK(corrupt.error().message.find(", offset " + gcwalk::hex(4 + first_len) +
                                       ": FDE: bad CIE pointer") != std::string::npos);
    CHECK(!gcwalk::EhFrameTable::open_eh_frame("empty", {}, at));
}

TEST_CASE("add_jit_object refuses bad objects and publishes nothing", "[jit_object]") {
    gcwalk::ImageRegistry jit;
    const gcwalk::FrameIndex* before = &jit.index();
    auto obj = self_as_jit_object();
    // Stack maps truncated in the middle of the header.
    std::vector<uint8_t> maps(obj.stackmaps.begin(), obj.stackmaps.end());
    auto cut = obj;
    cut.stackmaps = std::span<const uint8_t>(maps).first(10);
    auto h = jit.add_jit_object("cut-maps", cut);
    REQUIRE(!h);
    CHECK(h.error().message.rfind("cut-maps", 0) == 0);
    // A function of the stack maps that no FDE covers (nor a range handed over).
    std::vector<uint8_t> far(maps);
    const uint64_t nowhere = 0x7000'0000'0000;
    std::memcpy(&far[16], &nowhere, 8); // the first function entry's address
    auto outside = obj;
    outside.stackmaps = far;
    h = jit.add_jit_object("outside", outside);
    REQUIRE(!h);
    CHECK(h.error().message ==
          "outside: blob 0 function 0: address 0x700000000000 lies outside the image's executable "
          "segments (no FDE in its .eh_frame and no function range covers it)");
    // A corrupt .eh_frame.
    auto short_eh = obj;
    short_eh.eh_frame = obj.eh_frame.first(3);
    h = jit.add_jit_object("short", short_eh);
    REQUIRE(!h);
    CHECK(h.error().message.find("short: .eh_frame at ") == 0);
    CHECK(&jit.index() == before);
}

TEST_CASE("corrupt .eh_frame bytes give errors or tables, never a crash", "[jit_object]") {
    // Every byte of the first entries set to 0x00, 0x80 and 0xff in turn (lengths, CIE
    // pointers, augmentation, encodings, CFA programs): open and evaluate stay in bounds (ASan
    // checks it in the sanitizer build) and refuse or answer.
    // The section's first entries up to 384 bytes or more, ending at an entry boundary.
    const std::span<const uint8_t> eh = self_eh_frame();
    size_t n = 0;
    while (n < 384 && n + 4 <= eh.size()) {
        uint32_t len = 0;
        std::memcpy(&len, eh.data() + n, 4);
        if (len == 0 || len == 0xffffffffu || len > eh.size() - n - 4) break;
        n += 4 + len;
    }
    REQUIRE(n > 0);
    std::vector<uint8_t> copy(eh.begin(), eh.begin() + static_cast<std::ptrdiff_t>(n));
    const uint64_t at = reinterpret_cast<uintptr_t>(eh.data());
    size_t refused = 0, opened = 0;
    for (size_t i = 0; i < n; ++i) {
        for (uint8_t v : {uint8_t{0x00}, uint8_t{0x80}, uint8_t{0xff}}) {
            const uint8_t saved = copy[i];
            copy[i] = v;
            auto table = gcwalk::EhFrameTable::open_eh_frame("fuzz", copy, at);
            if (!table) {
                ++refused;
                CHECK(table.error().message.rfind("fuzz: .eh_frame at ", 0) == 0);
            } else {
                ++opened;
                for (uint64_t k = 0; k < table->num_fdes(); ++k) {
                    uint64_t start = 0, end = 0;
                    if (!table->fde_at(k, &start, &end)) continue;
                    gcwalk::FrameRule rule{};
                    (void)table->native_rule(start + 1, &rule);
                    (void)table->native_rule(start + (end - start) / 2 + 1, &rule);
                    (void)table->rule_at(end);
                }
            }
            copy[i] = saved;
        }
    }
    CHECK(refused > 0);
    CHECK(opened > 0);
}
