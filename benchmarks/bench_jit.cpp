// What registering a JIT-compiled module costs, for each linking layer: modules of F functions
// with C statepoints each (IR generated here, compiled by a real in-process LLJIT), and
//   BM_register:  gcwalk::JitObjects::add + remove of the module's object as the layer handed it
//                 over (final bytes: rules from its .eh_frame, an index published, libunwind
//                 told), into an empty registry (third argument 0) or one that has scanned this
//                 process's images (1: every publish re-indexes their call sites too, among them
//                 the 64-function rings linked in for BM_walk);
//   BM_jit_module: the whole path, the module compiled, linked and registered by ManagedJit (and
//                 removed), with the registration's own share from the plugin's or listener's
//                 clock as counters.
//   BM_walk:      the fast walker over a stack of 1,000 frames of the same ring IR, compiled
//                 ahead of time (llc, linked in) or by the JIT: they should cost the same.
// Counters: us_per_module and ns_per_call_site (of the registration); ns_per_frame (the walk).
#include "rings.hpp"

#include <gcwalk/jit/managed_jit.hpp>
#include <gcwalk/jit_objects.hpp>
#include <gcwalk/roots.hpp>

#include <benchmark/benchmark.h>

#include <llvm/IRReader/IRReader.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/SourceMgr.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

extern "C" void bj_callee(int64_t) {}

// The rings' objects: distinct non-null addresses, never dereferenced by a visit.
extern "C" void* bw_obj(int64_t n, int64_t j) {
    static uint64_t objects[(rings::kMaxDepth + 1) * rings::kMaxRoots * 2];
    return &objects[static_cast<size_t>(n * rings::kMaxRoots + j) * 2];
}

namespace {

using gcwalk::jit::LinkingLayer;

// F functions, each holding one GC reference across C calls of bj_callee.
std::string module_ir(int functions, int calls, int serial) {
    std::string ir = "declare void @bj_callee(i64)\n";
    for (int f = 0; f < functions; ++f) {
        ir += "define i64 @bj_" + std::to_string(serial) + "_" + std::to_string(f) +
              "(i8 addrspace(1)* %o) uwtable gc \"statepoint-example\" {\n";
        for (int c = 0; c < calls; ++c)
            ir += "  call void @bj_callee(i64 " + std::to_string(c) + ")\n";
        ir += "  %p = bitcast i8 addrspace(1)* %o to i64 addrspace(1)*\n"
              "  %v = load i64, i64 addrspace(1)* %p\n  ret i64 %v\n}\n";
    }
    return ir;
}

std::unique_ptr<llvm::Module> parse(const std::string& ir, llvm::LLVMContext& context) {
    llvm::SMDiagnostic diag;
    auto m = llvm::parseIR(llvm::MemoryBufferRef(ir, "bench"), diag, context);
    if (!m) std::fprintf(stderr, "bench_jit: %s\n", diag.getMessage().str().c_str());
    return m;
}

// Keeps a copy of each object the layer hands over (and registers nothing).
struct CapturingSink final : gcwalk::jit::JitObjectSink {
    struct Object {
        std::vector<uint8_t> stackmaps, eh_frame;
        uint64_t eh_frame_address;
        std::vector<gcwalk::FunctionRange> functions;
    };
    std::vector<Object> objects;
    gcwalk::Expected<uint64_t> add(std::string,
                                   const gcwalk::ImageRegistry::JitObject& o) override {
        objects.push_back({{o.stackmaps.begin(), o.stackmaps.end()},
                           {o.eh_frame.begin(), o.eh_frame.end()},
                           o.eh_frame_address,
                           o.functions});
        return objects.size();
    }
    gcwalk::Status remove(uint64_t) override { return {}; }
};

gcwalk::ImageRegistry& process_registry() {
    static gcwalk::ImageRegistry* registry = [] {
        auto* r = new gcwalk::ImageRegistry;
        (void)r->rescan();
        return r;
    }();
    return *registry;
}

void BM_register(benchmark::State& state, LinkingLayer layer) {
    const int functions = static_cast<int>(state.range(0)),
              calls = static_cast<int>(state.range(1));
    CapturingSink capture;
    auto jit = gcwalk::jit::ManagedJit::create(layer, capture);
    auto context = std::make_unique<llvm::LLVMContext>();
    auto module = parse(module_ir(functions, calls, 0), *context);
    if (!jit || !module) return state.SkipWithError("cannot create the JIT or the module");
    auto tracker =
        (*jit)->add_module(std::move(module), llvm::orc::ThreadSafeContext(std::move(context)));
    if (!tracker || !(*jit)->lookup_address("bj_0_0") || capture.objects.size() != 1)
        return state.SkipWithError("the module did not compile into one object");
    const CapturingSink::Object& o = capture.objects.front();
    gcwalk::ImageRegistry::JitObject object{o.stackmaps, o.eh_frame, o.eh_frame_address,
                                            o.functions};
    gcwalk::ImageRegistry empty;
    gcwalk::JitObjects objects(state.range(2) ? process_registry() : empty);
    state.counters["process_call_sites"] =
        static_cast<double>((state.range(2) ? process_registry() : empty).index().num_call_sites());
    uint64_t ns = 0; // add + remove, timed here too for the per-module and per-call-site counters
    for (auto _ : state) {
        const auto start = std::chrono::steady_clock::now();
        auto h = objects.add("bench", object);
        if (!h) return state.SkipWithError(h.error().message.c_str());
        (void)objects.remove(*h);
        ns += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now() - start)
                                        .count());
        state.PauseTiming();
        objects.reclaim();
        state.ResumeTiming();
    }
    const double sites = static_cast<double>(functions) * calls;
    const double per_module = static_cast<double>(ns) / static_cast<double>(state.iterations());
    state.counters["call_sites"] = sites;
    state.counters["us_per_module"] = per_module / 1e3;
    state.counters["ns_per_call_site"] = per_module / sites;
}

void BM_jit_module(benchmark::State& state, LinkingLayer layer) {
    const int functions = static_cast<int>(state.range(0)),
              calls = static_cast<int>(state.range(1));
    gcwalk::JitObjects objects(process_registry());
    gcwalk::jit::JitObjectsSink sink(objects);
    auto jit = gcwalk::jit::ManagedJit::create(layer, sink);
    if (!jit) return state.SkipWithError("cannot create the JIT");
    int serial = 0;
    for (auto _ : state) {
        auto context = std::make_unique<llvm::LLVMContext>();
        auto module = parse(module_ir(functions, calls, ++serial), *context);
        auto tracker =
            (*jit)->add_module(std::move(module), llvm::orc::ThreadSafeContext(std::move(context)));
        if (!tracker) return state.SkipWithError("add_module failed");
        if (!(*jit)->lookup_address("bj_" + std::to_string(serial) + "_0"))
            return state.SkipWithError("lookup failed");
        if (llvm::Error err = (*tracker)->remove()) {
            llvm::consumeError(std::move(err));
            return state.SkipWithError("remove failed");
        }
        objects.reclaim();
    }
    const auto st = (*jit)->stats();
    const double sites = static_cast<double>(functions) * calls;
    state.counters["call_sites"] = sites;
    state.counters["register_us_per_module"] = st.objects ? st.register_ns / 1e3 / st.objects : 0;
    state.counters["register_ns_per_call_site"] =
        st.objects ? st.register_ns / (st.objects * sites) : 0;
}

struct CountingVisitor final : gcwalk::RootVisitor {
    void root(void**) override {}
    void derived(void**, void**) override {}
};

struct WalkArg {
    benchmark::State* state;
    const gcwalk::FrameIndex* index;
    uint64_t frames = 0, roots = 0;
};

// Runs the benchmark loop inside the safepoint stub, on the ring's stack.
void walk_in_stub(gcwalk::SafepointContext* ctx, void* arg) {
    auto* w = static_cast<WalkArg*>(arg);
    gcwalk::WalkOptions options;
    options.walker = gcwalk::WalkerKind::Fast;
    options.precise = true;
    CountingVisitor visitor;
    for (auto _ : *w->state) {
        gcwalk::WalkStats stats;
        gcwalk::WalkError error;
        if (!gcwalk::visit_roots(*ctx, *w->index, visitor, options, &stats, &error)) {
            w->state->SkipWithError(error.message);
            return;
        }
        w->frames = stats.frames;
        w->roots = stats.roots;
    }
}

using Ring = void (*)(int64_t, gcwalk::SafepointFn, void*);

// The JIT-compiled copy of the rings without frame pointers (bench_frames_bn.ll, each function
// renamed with _jit), registered with the rings' registry.
Ring jit_ring(const std::string& name) {
    static gcwalk::JitObjects* objects = new gcwalk::JitObjects(rings::registry());
    static gcwalk::jit::JitObjectsSink* sink = new gcwalk::jit::JitObjectsSink(*objects);
    static gcwalk::jit::ManagedJit* jit = [] {
        auto j = gcwalk::jit::ManagedJit::create(LinkingLayer::JITLink, *sink);
        if (!j) return static_cast<gcwalk::jit::ManagedJit*>(nullptr);
        auto tracker = (*j)->add_ir_file(GCWALK_BENCH_RING_IR, "_jit");
        if (!tracker) {
            std::fprintf(stderr, "bench_jit: %s\n", llvm::toString(tracker.takeError()).c_str());
            return static_cast<gcwalk::jit::ManagedJit*>(nullptr);
        }
        return j->release();
    }();
    if (!jit) return nullptr;
    auto fn = jit->lookup<Ring>(name + "_jit");
    if (!fn) {
        llvm::consumeError(fn.takeError());
        return nullptr;
    }
    return *fn;
}

void BM_walk(benchmark::State& state, const char* ring, bool jit) {
    const int64_t depth = 1000;
    Ring fn = nullptr;
    if (jit) {
        fn = jit_ring(ring);
    } else {
        (void)rings::registry();
        fn = std::string(ring) == "bn2_0" ? &bn2_0 : &bnm_0;
    }
    if (!fn) return state.SkipWithError("no ring");
    WalkArg arg{&state, &rings::registry().index()};
    fn(depth, walk_in_stub, &arg);
    const int64_t shape = std::string(ring) == "bn2_0" ? 2 : rings::kMixed;
    if (arg.roots != rings::expected_roots(shape, depth))
        state.SkipWithError("the walk did not find every root");
    state.counters["frames"] = static_cast<double>(arg.frames);
    state.counters["ns_per_frame"] = benchmark::Counter(
        static_cast<double>(arg.frames),
        benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void sizes(benchmark::internal::Benchmark* b) {
    b->Args({1, 4})->Args({16, 16})->Args({64, 16})->Unit(benchmark::kMicrosecond);
}

void sizes_and_registries(benchmark::internal::Benchmark* b) {
    for (int process = 0; process < 2; ++process)
        b->Args({1, 4, process})->Args({16, 16, process})->Args({64, 16, process});
    b->Unit(benchmark::kMicrosecond);
}

BENCHMARK_CAPTURE(BM_register, jitlink, LinkingLayer::JITLink)->Apply(sizes_and_registries);
BENCHMARK_CAPTURE(BM_register, rtdyld, LinkingLayer::RuntimeDyld)->Apply(sizes_and_registries);
BENCHMARK_CAPTURE(BM_jit_module, jitlink, LinkingLayer::JITLink)->Apply(sizes)->Iterations(20);
BENCHMARK_CAPTURE(BM_jit_module, rtdyld, LinkingLayer::RuntimeDyld)->Apply(sizes)->Iterations(20);
BENCHMARK_CAPTURE(BM_walk, aot_2_roots, "bn2_0", false);
BENCHMARK_CAPTURE(BM_walk, jit_2_roots, "bn2_0", true);
BENCHMARK_CAPTURE(BM_walk, aot_mixed, "bnm_0", false);
BENCHMARK_CAPTURE(BM_walk, jit_mixed, "bnm_0", true);

} // namespace

BENCHMARK_MAIN();
