// JIT-compiled managed code under the reference moving runtime: a real in-process LLJIT (JITLink
// or RuntimeDyld, argv[1]) compiles tests/jit/program.ll at run time, and the program runs with
// GCWALK_STRESS=1 (a moving collection at every allocation) and GCWALK_VERIFY=1 (every
// collection walks each stack with both walkers and compares them). Modes (argv[2]):
//   calls    JIT code calling AOT code calling JIT code back, derived pointers in JIT frames;
//            then the module's tracker transferred to another, and that one removed
//   csr      the same, compiled with GC values in callee-saved registers (checked: the JIT's
//            stack maps hold Register locations)
//   readd    the module removed and added again, twenty times, while another thread runs AOT
//            managed code and collects; this thread compiles detached (while the other collects)
//   lazy     `calls` with an LLLazyJIT: each function compiled (and its object registered) on
//            its first call, in the middle of the managed program
//   unregistered  `calls` with the objects kept from the runtime: must fail (the negative
//            control: the walks really depend on what the glue registers)
// Exits 0 only when every answer equals the one recomputed here and nothing was left registered.
#include <gcwalk/jit/managed_jit.hpp>
#include <gcwalk/runtime.h>
#include <gcwalk/stackmap.hpp>
#include <gcwalk/statepoint.hpp>

#include <llvm/Support/CommandLine.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern "C" int64_t aot_churn(int64_t n);

namespace {

using gcwalk::jit::LinkingLayer;

int failures = 0;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);          \
            ++failures;                                                                            \
        }                                                                                          \
    } while (0)

int64_t expected_entry(int64_t n) {
    return 15 + 1000 * n + n * (n - 1) + n * (n - 1) / 2 + (n + 1) + 1000;
}

// Forwards to the runtime and keeps the stack map bytes of every object, to look at them.
class RecordingSink final : public gcwalk::jit::JitObjectSink {
  public:
    gcwalk::Expected<uint64_t> add(std::string name,
                                   const gcwalk::ImageRegistry::JitObject& object) override {
        maps.emplace_back(object.stackmaps.begin(), object.stackmaps.end());
        ++added;
        // The same object in a registry of its own: every call site gets an exact rule from the
        // object's .eh_frame (a call site without one would still walk, through libunwind).
        gcwalk::ImageRegistry probe;
        auto h = probe.add_jit_object(name, object);
        CHECK(h);
        CHECK(probe.diagnostics().empty());
        for (const gcwalk::FrameRecord& f : probe.index().frames())
            CHECK((f.flags & gcwalk::kFrameHasRule) != 0);
        for (const gcwalk::CallSite& cs : probe.index().call_sites())
            CHECK((probe.index().rule(cs).flags & gcwalk::kRuleFromCfi) != 0);
        ruled_call_sites += probe.index().num_call_sites();
        if (drop) return 1; // the negative control: the runtime never hears of the object
        return runtime.add(std::move(name), object);
    }
    gcwalk::Status remove(uint64_t handle) override {
        ++removed;
        return drop ? gcwalk::Status{} : runtime.remove(handle);
    }
    gcwalk::jit::RuntimeSink runtime;
    std::vector<std::vector<uint8_t>> maps;
    bool drop = false;
    size_t added = 0, removed = 0, ruled_call_sites = 0;
};

// Sums count(blob, record) over every record of the sections' blobs.
template <class Count>
size_t over_records(const std::vector<std::vector<uint8_t>>& sections, Count count) {
    size_t n = 0;
    for (const auto& s : sections)
        if (auto blobs = gcwalk::parse_stackmap_section(s, "jit"))
            for (const auto& blob : *blobs)
                for (uint32_t r = 0; r < blob.num_records(); ++r) n += count(blob, blob.record(r));
    return n;
}

// Register locations of callee-saved registers (GC values kept in registers across calls).
size_t register_roots(const std::vector<std::vector<uint8_t>>& sections) {
    return over_records(sections, [](const gcwalk::StackMapBlob&, const gcwalk::RecordView& rec) {
        size_t n = 0;
        for (uint16_t i = 0; i < rec.num_locations(); ++i)
            n += rec.location(i).kind == gcwalk::LocationKind::Register &&
                 rec.location(i).dwarf_reg != gcwalk::kDwarfRsp;
        return n;
    });
}

// (base, derived) pairs whose two locations differ: real derived pointers.
size_t derived_pairs(const std::vector<std::vector<uint8_t>>& sections) {
    return over_records(
        sections, [](const gcwalk::StackMapBlob& blob, const gcwalk::RecordView& rec) {
            size_t n = 0;
            auto sp = gcwalk::decode_statepoint(blob, rec);
            for (uint16_t k = 0; sp && k < sp->num_pairs; ++k) {
                const gcwalk::Location b = rec.location(sp->first_pair + 2 * k);
                const gcwalk::Location d = rec.location(sp->first_pair + 2 * k + 1);
                n += b.kind != d.kind || b.dwarf_reg != d.dwarf_reg || b.offset != d.offset;
            }
            return n;
        });
}

template <class T> T require(llvm::Expected<T> v, const char* what) {
    if (!v) {
        std::fprintf(stderr, "%s: %s\n", what, llvm::toString(v.takeError()).c_str());
        std::exit(1);
    }
    return std::move(*v);
}

int64_t run_entry(gcwalk::jit::ManagedJit& jit, int64_t n) {
    auto entry = require(jit.lookup<int64_t (*)(int64_t)>("jit_entry"), "lookup jit_entry");
    return entry(n);
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s jitlink|rtdyld calls|csr|readd\n", argv[0]);
        return 2;
    }
    const LinkingLayer layer =
        std::strcmp(argv[1], "rtdyld") == 0 ? LinkingLayer::RuntimeDyld : LinkingLayer::JITLink;
    const std::string mode = argv[2];
    if (mode == "csr") {
        const char* args[] = {"test_jit", "-max-registers-for-gc-values=4",
                              "-fixup-allow-gcptr-in-csr"};
        llvm::cl::ParseCommandLineOptions(3, args);
    }
    RecordingSink sink;
    sink.drop = mode == "unregistered";
    const bool lazy = mode == "lazy";
    auto jit = require(gcwalk::jit::ManagedJit::create(layer, sink, lazy), "create the JIT");
    const int64_t n = 20;

    if (mode == "calls" || mode == "csr" || mode == "unregistered" || lazy) {
        auto tracker = require(jit->add_ir_file(GCWALK_JIT_PROGRAM), "add program");
        for (int round = 0; round < 3; ++round) CHECK(run_entry(*jit, n) == expected_entry(n));
        // Lazily: one object per compiled function (and ORC's stubs), registered as they come.
        if (lazy)
            CHECK(jit->stats().registered >= 3);
        else
            CHECK(jit->stats().registered == 1);
        CHECK(!sink.maps.empty() && !sink.maps.front().empty());
        // Every record of the JIT's stack maps is a call site with an exact rule.
        const size_t records = over_records(
            sink.maps, [](const gcwalk::StackMapBlob&, const gcwalk::RecordView&) { return 1; });
        std::printf("JIT call sites with exact frame rules: %zu of %zu\n", sink.ruled_call_sites,
                    records);
        CHECK(records >= 12); // box, jit_leaf, jit_fill, jit_inner, jit_entry: 1 + 1 + 2 + 2 + 6
        CHECK(sink.ruled_call_sites == records);
        const size_t derived = derived_pairs(sink.maps);
        std::printf("derived (base != derived) pairs in the JIT's stack maps: %zu\n", derived);
        CHECK(derived > 0); // jit_fill's loop-phi pointer
        if (mode == "csr") {
            const size_t regs = register_roots(sink.maps);
            std::printf("callee-saved register locations in the JIT's stack maps: %zu\n", regs);
            CHECK(regs > 0);
        }
        // The registration follows the code: moved to another tracker, removed with that one.
        auto other = jit->lljit().getMainJITDylib().createResourceTracker();
        if (!lazy) tracker->transferTo(*other);
        if (!lazy) CHECK(jit->stats().registered == 1);
        if (llvm::Error err = (lazy ? tracker : other)->remove()) {
            std::fprintf(stderr, "remove: %s\n", llvm::toString(std::move(err)).c_str());
            ++failures;
        }
        // (Lazily compiled bodies live in ORC's implementation JITDylib: removed with the JIT.)
        if (!lazy) CHECK(jit->stats().registered == 0);
    } else if (mode == "readd") {
        std::atomic<bool> done{false};
        std::atomic<int64_t> churned{0};
        std::thread other([&] {
            gcwalk_rt_attach_thread();
            while (!done.load()) {
                CHECK(aot_churn(50) == 50 * 49 / 2);
                churned.fetch_add(1);
            }
            gcwalk_rt_detach_thread();
        });
        for (int round = 0; round < 20; ++round) {
            gcwalk_rt_detach_thread(); // compiling: the other thread collects meanwhile
            auto tracker = require(jit->add_ir_file(GCWALK_JIT_PROGRAM), "add program");
            auto entry = require(jit->lookup<int64_t (*)(int64_t)>("jit_entry"), "lookup");
            gcwalk_rt_attach_thread();
            CHECK(entry(n) == expected_entry(n));
            CHECK(jit->stats().registered == 1);
            gcwalk_rt_detach_thread();
            if (llvm::Error err = tracker->remove()) {
                std::fprintf(stderr, "remove: %s\n", llvm::toString(std::move(err)).c_str());
                ++failures;
            }
            CHECK(jit->stats().registered == 0);
        }
        done.store(true);
        other.join();
        std::printf("the other thread ran aot_churn %ld times meanwhile\n",
                    static_cast<long>(churned.load()));
        CHECK(churned.load() > 0);
    } else {
        std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
        return 2;
    }
    for (const std::string& e : jit->errors()) {
        std::fprintf(stderr, "registration error: %s\n", e.c_str());
        ++failures;
    }
    const auto st = jit->stats();
    std::printf("%s %s: %lu objects registered, %lu stack map bytes, %.1f us per object\n", argv[1],
                mode.c_str(), static_cast<unsigned long>(st.objects),
                static_cast<unsigned long>(st.stackmap_bytes),
                st.objects ? st.register_ns / 1000.0 / st.objects : 0.0);
    CHECK(st.objects > 0);
    gcwalk_rt_stats rs;
    gcwalk_rt_get_stats(&rs);
    CHECK(rs.collections > 0);
    jit.reset(); // every object left is removed: the sink saw as many removals as additions
    CHECK(sink.added == sink.removed);
    if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
