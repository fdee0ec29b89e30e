// gcwalk-jit-demo's JIT side: compiles the demo's managed program (demo.ll) at run time with an
// in-process LLJIT (GCWALK_JIT_LAYER=jitlink, the default, or rtdyld), registering its objects
// with the reference runtime, and reports what the registration cost. The host is the AOT demo's
// (gc/runtime/demo/demo_main.c, built with GCWALK_DEMO_JIT).
#include <gcwalk/jit/managed_jit.hpp>
#include <gcwalk/runtime.h>
#include <gcwalk/stackmap.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace {

// The runtime's sink, counting the call sites (stack map records) it registers.
class CountingSink final : public gcwalk::jit::JitObjectSink {
  public:
    gcwalk::Expected<uint64_t> add(std::string name,
                                   const gcwalk::ImageRegistry::JitObject& object) override {
        if (auto blobs = gcwalk::parse_stackmap_section(object.stackmaps, name))
            for (const auto& blob : *blobs) call_sites += blob.num_records();
        return runtime.add(std::move(name), object);
    }
    gcwalk::Status remove(uint64_t handle) override { return runtime.remove(handle); }
    gcwalk::jit::RuntimeSink runtime;
    uint64_t call_sites = 0;
};

CountingSink sink;
std::unique_ptr<gcwalk::jit::ManagedJit> jit;
double compile_ms = 0;

} // namespace

struct gcwalk_demo_program {
    int64_t (*trees)(int64_t);
    int64_t (*lists)(int64_t);
    int64_t (*strings)(int64_t);
    int64_t (*map)(int64_t);
};

extern "C" int gcwalk_demo_jit_compile(gcwalk_demo_program* out) {
    const char* layer_env = std::getenv("GCWALK_JIT_LAYER");
    const auto layer = layer_env && std::strcmp(layer_env, "rtdyld") == 0
                           ? gcwalk::jit::LinkingLayer::RuntimeDyld
                           : gcwalk::jit::LinkingLayer::JITLink;
    const auto start = std::chrono::steady_clock::now();
    auto fail = [](llvm::Error err) {
        std::fprintf(stderr, "gcwalk-jit-demo: %s\n", llvm::toString(std::move(err)).c_str());
        return 1;
    };
    auto created = gcwalk::jit::ManagedJit::create(layer, sink);
    if (!created) return fail(created.takeError());
    jit = std::move(*created);
    auto tracker = jit->add_ir_file(GCWALK_DEMO_IR);
    if (!tracker) return fail(tracker.takeError());
    using Entry = int64_t (*)(int64_t);
    Entry* slots[] = {&out->trees, &out->lists, &out->strings, &out->map};
    const char* names[] = {"demo_trees", "demo_lists", "demo_strings", "demo_map"};
    for (int i = 0; i < 4; ++i) {
        auto fn = jit->lookup<Entry>(names[i]);
        if (!fn) return fail(fn.takeError());
        *slots[i] = *fn;
    }
    compile_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    for (const std::string& e : jit->errors()) {
        std::fprintf(stderr, "gcwalk-jit-demo: %s\n", e.c_str());
        return 1;
    }
    std::printf("  compiled %s at run time with the %s linking layer (RS4GC in-process)\n",
                GCWALK_DEMO_IR, gcwalk::jit::to_string(layer));
    return 0;
}

extern "C" void gcwalk_demo_jit_report(void) {
    const auto st = jit->stats();
    std::printf("JIT registration (%s):\n", gcwalk::jit::to_string(jit->layer()));
    std::printf("  objects registered          %llu, %llu call sites, %llu stack map bytes\n",
                static_cast<unsigned long long>(st.objects),
                static_cast<unsigned long long>(sink.call_sites),
                static_cast<unsigned long long>(st.stackmap_bytes));
    std::printf("  registration cost           %.1f us per object, %.0f ns per call site (rules "
                "from .eh_frame, index published, libunwind told)\n",
                st.objects ? static_cast<double>(st.register_ns) / 1e3 / st.objects : 0.0,
                sink.call_sites ? static_cast<double>(st.register_ns) / sink.call_sites : 0.0);
    std::printf("  compiling and linking       %.1f ms (RS4GC, codegen, link; for comparison)\n",
                compile_ms);
}
