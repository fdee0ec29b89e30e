// The reference moving runtime behind include/gcwalk/runtime.h: thread attachment, stopping the
// world at safepoints, and collections that relocate every root of every attached thread's stack.
//
// Stop the world: the thread that hits a trigger enters gcwalk_safepoint_enter(collect_in_stub),
// sets stop_requested and waits until every other attached thread has parked; each of those parks
// at its next runtime call by entering the stub (park_in_stub) and publishing its context. The
// collector walks every published stack, copies, and releases them all at once (epoch + 1).
//
// Timing (GCWALK_STATS): a collection reads the clock five times, never per frame or object: at
// the request, when the world is stopped, around the root phase (every stack walked and its roots
// forwarded to their to-space addresses, no object bytes copied), after the copy phase (the
// forwarded objects' bytes, then the Cheney scan), and when the world is released.
#include <gcwalk/image_registry.hpp>
#include <gcwalk/jit_objects.hpp>
#include <gcwalk/roots.hpp>
#include <gcwalk/runtime.h>
#include <gcwalk/safepoint.hpp>

#include "options.hpp"
#include "semispace_heap.hpp"

#include <link.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#define GCWALK_RT_API extern "C" __attribute__((visibility("default")))
// Called only by the trampolines of entry_trampolines.S, inside this library.
#define GCWALK_RT_IMPL extern "C" __attribute__((visibility("hidden")))

namespace gcwalk::rt {
namespace {

[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::fputs("gcwalk-rt: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
    std::abort();
}

struct ThreadState {
    bool attached = false;
    SafepointContext* parked_context = nullptr; // set while parked for the current stop request
    uint64_t entry_sp = 0; // the SP of the caller of the innermost trampoline running (0: none)
    std::unique_ptr<WalkCache> cache; // this thread's last walk (GCWALK_WALK_CACHE, fast walker)
    ~ThreadState();                   // a thread that ends attached is detached
};

struct Runtime {
    Options options;
    SemispaceHeap heap;
    ImageRegistry* registry = nullptr; // never destroyed: threads may run past static destruction
    JitObjects* jit = nullptr;         // JIT objects in `registry` (never destroyed either)
    WalkOptions walk;

    std::mutex world;                // guards everything below that is not atomic
    std::condition_variable changed; // parked count, epoch, attachment
    std::atomic<bool> stop_requested{false};
    uint64_t epoch = 0;                // collections finished
    std::vector<ThreadState*> threads; // attached
    size_t parked = 0;                 // attached threads parked for the current stop request

    std::atomic<uint64_t> stress_calls{0};
    unsigned long long dl_adds = ~0ull,
                       dl_subs = ~0ull; // dl_iterate_phdr counters at the last scan
    std::set<std::string> reported;     // registry diagnostics already printed
    bool root_skipped = false;          // GCWALK_TEST_SKIP_ROOT: done once

    gcwalk_rt_stats stats{};
};

Runtime* g_rt = nullptr;
thread_local ThreadState t_self;

ThreadState::~ThreadState() {
    if (attached && g_rt) gcwalk_rt_detach_thread();
}

// --- images --------------------------------------------------------------------------------

int read_dl_counters(dl_phdr_info* info, size_t size, void* data) {
    auto* out = static_cast<unsigned long long*>(data);
    if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        out[0] = info->dlpi_adds;
        out[1] = info->dlpi_subs;
    }
    return 1; // the counters are the same in every entry: one is enough
}

// Rescans the loaded images when the loader's add/remove counters moved (dlopen, dlclose).
// Called at start and with the world stopped, so retired indexes can be freed at once.
void refresh_images(Runtime& rt) {
    unsigned long long counters[2] = {0, 0};
    dl_iterate_phdr(read_dl_counters, counters);
    if (counters[0] == rt.dl_adds && counters[1] == rt.dl_subs) return;
    rt.dl_adds = counters[0];
    rt.dl_subs = counters[1];
    if (Status st = rt.registry->rescan(); !st)
        fatal("scanning the loaded images failed: %s", st.message().c_str());
    rt.registry->reclaim();
    for (const std::string& line : rt.registry->diagnostics())
        if (rt.reported.insert(line).second) std::fprintf(stderr, "gcwalk-rt: %s\n", line.c_str());
    // Stack maps that exist but cannot be used mean roots that no walk would find: stop now,
    // before a collection moves objects under them.
    auto skipped = rt.registry->skipped();
    if (!skipped.empty())
        fatal("%s: its stack maps cannot be used, so a collection would miss its roots; "
              "refusing to run (see docs/INTEGRATION.md): %s",
              skipped.front().path.c_str(), skipped.front().reason.c_str());
}

// --- collection ----------------------------------------------------------------------------

uint64_t now_ns() noexcept {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

void* move_object(void* old_base, void* user) {
    auto* rt = static_cast<Runtime*>(user);
    if (rt->options.skip_root && !rt->root_skipped) {
        rt->root_skipped = true; // the test of the test suite: this slot keeps a poisoned address
        return old_base;
    }
    // The root phase copies nothing: the object gets its new address, its bytes come later.
    return rt->heap.forward(old_base);
}

// Records what a walk saw, to compare two walkers (GCWALK_VERIFY=1).
struct RecordingVisitor final : RootVisitor {
    std::vector<uint64_t> seen; // frame: 0, ra, sp; root: 1, slot; derived: 2, base slot, slot
    void frame(uint64_t ra, uint64_t sp) override { seen.insert(seen.end(), {0, ra, sp}); }
    void root(void** slot) override {
        seen.insert(seen.end(), {1, reinterpret_cast<uint64_t>(slot)});
    }
    void derived(void** base, void** slot) override {
        seen.insert(seen.end(),
                    {2, reinterpret_cast<uint64_t>(base), reinterpret_cast<uint64_t>(slot)});
    }
};

void compare_walks(const RecordingVisitor& a, const RecordingVisitor& b, const char* what,
                   size_t thread) {
    if (a.seen == b.seen) return;
    auto [ia, ib] = std::mismatch(a.seen.begin(), a.seen.end(), b.seen.begin(), b.seen.end());
    fatal("GCWALK_VERIFY: the libunwind walker and the %s disagree on thread %zu at entry %zu "
          "of the walk (libunwind: %#lx, %s: %#lx; %zu vs %zu entries)",
          what, thread, static_cast<size_t>(ia - a.seen.begin()),
          static_cast<unsigned long>(ia == a.seen.end() ? 0 : *ia), what,
          static_cast<unsigned long>(ib == b.seen.end() ? 0 : *ib), a.seen.size(), b.seen.size());
}

void verify_walkers(Runtime& rt, const SafepointContext& ctx, size_t thread, WalkCache* cache) {
    RecordingVisitor a, b;
    WalkError error;
    WalkOptions unw = rt.walk, fast = rt.walk;
    unw.walker = WalkerKind::Libunwind;
    fast.walker = WalkerKind::Fast;
    if (!visit_roots(ctx, rt.registry->index(), a, unw, nullptr, &error))
        fatal("GCWALK_VERIFY: the libunwind walker failed on thread %zu at %#lx: %s", thread,
              static_cast<unsigned long>(error.address), error.message);
    if (!visit_roots(ctx, rt.registry->index(), b, fast, nullptr, &error))
        fatal("GCWALK_VERIFY: the fast walker failed on thread %zu at %#lx: %s", thread,
              static_cast<unsigned long>(error.address), error.message);
    compare_walks(a, b, "fast", thread);
    if (cache) { // the fast walker taking what it can from the thread's WalkCache (and recording)
        RecordingVisitor c;
        fast.cache = cache;
        if (!visit_roots(ctx, rt.registry->index(), c, fast, nullptr, &error))
            fatal("GCWALK_VERIFY: the fast walker with its walk cache failed on thread %zu at "
                  "%#lx: %s",
                  thread, static_cast<unsigned long>(error.address), error.message);
        compare_walks(a, c, "fast walker with its walk cache", thread);
    }
}

// With the world lock held and every other attached thread parked.
void run_collection(Runtime& rt, SafepointContext* own_context) {
    refresh_images(rt);
    rt.jit->reclaim(); // what JIT removals retired: no walk runs now, none began before

    rt.heap.begin_collection();
    auto context_of = [&](ThreadState* t) -> const SafepointContext* {
        return t == &t_self ? own_context : t->parked_context;
    };
    auto walk_of = [&](ThreadState* t) {
        WalkOptions walk = rt.walk;
        if (walk.walker == WalkerKind::Fast) walk.cache = t->cache.get();
        return walk;
    };
    // Verification walks move nothing, so they all run before the timed root phase.
    if (rt.options.verify)
        for (size_t i = 0; i < rt.threads.size(); ++i)
            verify_walkers(rt, *context_of(rt.threads[i]), i, walk_of(rt.threads[i]).cache);
    // Root phase: every stack walked, every root forwarded; no object is copied yet.
    const uint64_t root_start = now_ns();
    for (size_t i = 0; i < rt.threads.size(); ++i) {
        ThreadState* t = rt.threads[i];
        WalkStats ws;
        WalkError error;
        if (!relocate_roots(*context_of(t), rt.registry->index(), move_object, &rt, walk_of(t), &ws,
                            &error))
            fatal("precise stack walk failed on thread %zu at return address %#lx: %s", i,
                  static_cast<unsigned long>(error.address), error.message);
        rt.stats.frames += ws.frames;
        rt.stats.roots += ws.roots;
        rt.stats.cached_frames += ws.cached;
    }
    const uint64_t root_end = now_ns();
    // Copy phase: the forwarded objects' bytes, then everything they reach.
    rt.heap.copy_live();
    const uint64_t copy_end = now_ns();
    rt.heap.finish_collection(); // poisons the old space: counted in total_ns only
    rt.stats.root_ns += root_end - root_start;
    rt.stats.walk_ns = rt.stats.root_ns;
    rt.stats.copy_ns += copy_end - root_end;
    rt.stats.collections += 1;
    rt.stats.copied_bytes = rt.heap.copied_bytes();
}

// Waits, parked with `ctx` published, until the current stop request ends.
void park_locked(Runtime& rt, std::unique_lock<std::mutex>& lock, SafepointContext* ctx) {
    t_self.parked_context = ctx;
    ++rt.parked;
    rt.changed.notify_all();
    const uint64_t epoch = rt.epoch;
    rt.changed.wait(lock, [&] { return rt.epoch != epoch; });
    // The collector reset `parked` and our context when it released us.
}

// Inside a trampoline the walk starts at its caller: the stub's own caller and the runtime's frames
// up to the trampoline are skipped (the fast walker would hand each one to libunwind). The
// trampoline's save slots sit where the stub's would, below entry_sp, so both walkers find the same
// callee-saved slots; the libunwind walker still starts at the captured context.
void start_at_entry_frame(SafepointContext* ctx) noexcept {
    if (t_self.entry_sp == 0) return;
    ctx->caller_sp = t_self.entry_sp;
    ctx->caller_return_address = *reinterpret_cast<const uint64_t*>(t_self.entry_sp - 8);
}

void park_in_stub(SafepointContext* ctx, void*) {
    start_at_entry_frame(ctx);
    Runtime& rt = *g_rt;
    std::unique_lock lock(rt.world);
    if (rt.stop_requested.load(std::memory_order_relaxed)) park_locked(rt, lock, ctx);
}

struct CollectRequest {
    bool ran = false; // this thread ran the collection (not another one it waited for)
};

void collect_in_stub(SafepointContext* ctx, void* arg) {
    const uint64_t requested = now_ns();
    start_at_entry_frame(ctx);
    Runtime& rt = *g_rt;
    std::unique_lock lock(rt.world);
    if (rt.stop_requested.load(std::memory_order_relaxed)) {
        park_locked(rt, lock, ctx); // another thread collects: its collection serves us too
        return;
    }
    rt.stop_requested.store(true, std::memory_order_release);
    rt.changed.wait(lock, [&] { return rt.parked + 1 == rt.threads.size(); });
    rt.stats.stw_ns += now_ns() - requested;
    run_collection(rt, ctx);
    for (ThreadState* t : rt.threads) t->parked_context = nullptr;
    rt.parked = 0;
    ++rt.epoch;
    rt.stop_requested.store(false, std::memory_order_release);
    rt.changed.notify_all();
    rt.stats.total_ns += now_ns() - requested; // the stats are ours until the lock is released
    static_cast<CollectRequest*>(arg)->ran = true;
}

// --- entry points --------------------------------------------------------------------------

void attach(Runtime& rt) {
    std::unique_lock lock(rt.world);
    // A thread joins between collections only: its stack is not published yet.
    rt.changed.wait(lock, [&] { return !rt.stop_requested.load(std::memory_order_relaxed); });
    rt.threads.push_back(&t_self);
    t_self.attached = true;
    if (rt.options.walk_cache && !t_self.cache) {
        try {
            t_self.cache = std::make_unique<WalkCache>(4096);
        } catch (const std::bad_alloc&) {
            // no cache: walks step every frame
        }
    }
}

// Records the trampoline's caller for the duration of one entry-point call. Managed → C → runtime
// → ... nests only through native code that calls the runtime again, so the previous value is put
// back on return; a runtime call that came without a trampoline (attach, detach) sees 0.
class EntryFrame {
  public:
    explicit EntryFrame(uint64_t sp) noexcept : previous_(t_self.entry_sp) { t_self.entry_sp = sp; }
    ~EntryFrame() { t_self.entry_sp = previous_; }
    EntryFrame(const EntryFrame&) = delete;
    EntryFrame& operator=(const EntryFrame&) = delete;

  private:
    uint64_t previous_;
};

inline Runtime& enter() {
    Runtime& rt = *g_rt;
    if (!t_self.attached) attach(rt);
    return rt;
}

inline void poll(Runtime& rt) {
    if (rt.stop_requested.load(std::memory_order_acquire))
        gcwalk_safepoint_enter(park_in_stub, nullptr);
}

bool collect_now() {
    CollectRequest request;
    gcwalk_safepoint_enter(collect_in_stub, &request);
    return request.ran;
}

// True when this call is the N-th of GCWALK_STRESS=N.
inline bool stress_hit(Runtime& rt) {
    return rt.options.stress &&
           (rt.stress_calls.fetch_add(1, std::memory_order_relaxed) + 1) % rt.options.stress == 0;
}

[[noreturn]] void out_of_memory(Runtime& rt, uint64_t ptr_fields, uint64_t data_bytes) {
    std::fprintf(
        stderr,
        "gcwalk-rt: out of memory: an object of %llu reference fields and %llu data bytes does "
        "not fit; %llu bytes are live after a collection and each semispace holds %llu MiB "
        "(GCWALK_HEAP_MB)\n",
        static_cast<unsigned long long>(ptr_fields), static_cast<unsigned long long>(data_bytes),
        static_cast<unsigned long long>(rt.heap.used_bytes()),
        static_cast<unsigned long long>(rt.heap.semispace_bytes() >> 20));
    std::fflush(stderr);
    std::_Exit(3);
}

// --- faults in the poisoned space ---------------------------------------------------------

struct sigaction g_previous_segv;

// Names a fault in the space the last collection left (a missed root), then hands the signal to
// whatever handled it before (a sanitizer, the program, or the default action: the process ends).
void on_segv(int sig, siginfo_t* info, void* ucontext) {
    const uintptr_t address = reinterpret_cast<uintptr_t>(info->si_addr);
    if (g_rt && g_rt->heap.in_poisoned_space(address)) {
        char line[192] = "gcwalk-rt: access to 0x";
        size_t n = std::strlen(line);
        for (int shift = 60; shift >= 0; shift -= 4)
            line[n++] = "0123456789abcdef"[(address >> shift) & 15];
        const char* rest =
            " in the old semispace, poisoned by the last collection: a root was not relocated\n";
        std::memcpy(line + n, rest, std::strlen(rest));
        n += std::strlen(rest);
        [[maybe_unused]] ssize_t w = write(2, line, n);
    }
    if ((g_previous_segv.sa_flags & SA_SIGINFO) && g_previous_segv.sa_sigaction) {
        g_previous_segv.sa_sigaction(sig, info, ucontext);
    } else if (!(g_previous_segv.sa_flags & SA_SIGINFO) && g_previous_segv.sa_handler != SIG_DFL &&
               g_previous_segv.sa_handler != SIG_IGN) {
        g_previous_segv.sa_handler(sig);
    } else {
        signal(SIGSEGV, SIG_DFL); // the access runs again and ends the process
    }
}

void install_fault_handler() {
    struct sigaction action {};
    action.sa_sigaction = on_segv;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, &g_previous_segv);
}

// --- start and exit ------------------------------------------------------------------------

void print_stats() {
    if (!g_rt || !g_rt->options.stats) return;
    gcwalk_rt_stats s;
    gcwalk_rt_get_stats(&s);
    // Scripts read this line: the documented keys keep their order, new keys go at the end.
    std::fprintf(
        stderr,
        "gcwalk-rt: collections=%llu frames=%llu roots=%llu walk_ns=%llu "
        "cached_frames=%llu stw_ns=%llu root_ns=%llu copy_ns=%llu total_ns=%llu\n",
        static_cast<unsigned long long>(s.collections), static_cast<unsigned long long>(s.frames),
        static_cast<unsigned long long>(s.roots), static_cast<unsigned long long>(s.walk_ns),
        static_cast<unsigned long long>(s.cached_frames), static_cast<unsigned long long>(s.stw_ns),
        static_cast<unsigned long long>(s.root_ns), static_cast<unsigned long long>(s.copy_ns),
        static_cast<unsigned long long>(s.total_ns));
}

__attribute__((constructor)) void start_runtime() {
    auto* rt = new Runtime;
    std::string message;
    if (!parse_options([](const char* name) -> const char* { return std::getenv(name); },
                       &rt->options, &message)) {
        std::fprintf(stderr, "%s\n", message.c_str());
        std::fflush(stderr);
        std::_Exit(2);
    }
    if (!rt->heap.init(rt->options.heap_mb << 20, &message)) {
        std::fprintf(stderr, "%s\n", message.c_str());
        std::fflush(stderr);
        std::_Exit(2);
    }
    // GCWALK_WALKER picks the walker collections use; GCWALK_VERIFY=1 walks with both first.
    rt->walk.walker = rt->options.walker;
    rt->walk.precise = true;
    rt->registry = new ImageRegistry;
    rt->jit = new JitObjects(*rt->registry);
    g_rt = rt;
    install_fault_handler();
    refresh_images(*rt);
    std::atexit(print_stats);
}

} // namespace
} // namespace gcwalk::rt

using gcwalk::rt::g_rt;

// gcwalk_rt_alloc, gcwalk_rt_safepoint and gcwalk_rt_collect are the trampolines of
// entry_trampolines.S; entry_sp is their caller's SP.
GCWALK_RT_IMPL void* gcwalk_rt_alloc_impl(uint64_t num_ptr_fields, uint64_t num_data_bytes,
                                          uint64_t entry_sp) {
    using namespace gcwalk::rt;
    Runtime& rt = enter();
    EntryFrame entry(entry_sp);
    const uint64_t size = SemispaceHeap::object_size(num_ptr_fields, num_data_bytes);
    if (size == 0 || size > rt.heap.semispace_bytes())
        out_of_memory(rt, num_ptr_fields, num_data_bytes);
    if (stress_hit(rt))
        collect_now();
    else
        poll(rt);
    for (;;) {
        if (void* p = rt.heap.try_allocate(num_ptr_fields, num_data_bytes)) return p;
        // Full: collect. If our own collection left no room, live data has outgrown the heap;
        // if another thread's did, try again.
        const bool ran = collect_now();
        if (void* p = rt.heap.try_allocate(num_ptr_fields, num_data_bytes)) return p;
        if (ran) out_of_memory(rt, num_ptr_fields, num_data_bytes);
    }
}

GCWALK_RT_IMPL void gcwalk_rt_safepoint_impl(uint64_t entry_sp) {
    using namespace gcwalk::rt;
    Runtime& rt = enter();
    EntryFrame entry(entry_sp);
    if (stress_hit(rt))
        collect_now();
    else
        poll(rt);
}

GCWALK_RT_IMPL void gcwalk_rt_collect_impl(uint64_t entry_sp) {
    using namespace gcwalk::rt;
    enter();
    EntryFrame entry(entry_sp);
    collect_now();
}

GCWALK_RT_API void gcwalk_rt_attach_thread(void) {
    using namespace gcwalk::rt;
    Runtime& rt = enter();
    poll(rt);
}

GCWALK_RT_API void gcwalk_rt_detach_thread(void) {
    using namespace gcwalk::rt;
    if (!g_rt || !t_self.attached) return;
    Runtime& rt = *g_rt;
    poll(rt); // a pending collection still sees this thread's frames
    std::unique_lock lock(rt.world);
    rt.threads.erase(std::find(rt.threads.begin(), rt.threads.end(), &t_self));
    t_self.attached = false;
    if (t_self.cache) t_self.cache->clear(); // the stack it describes is gone (or will change)
    rt.changed.notify_all();                 // a collector may be waiting for this thread
}

GCWALK_RT_API void gcwalk_rt_get_stats(gcwalk_rt_stats* out) {
    using namespace gcwalk::rt;
    if (!g_rt) {
        *out = {};
        return;
    }
    std::unique_lock lock(g_rt->world);
    *out = g_rt->stats;
}

namespace {
thread_local std::string t_jit_error;

int jit_result(const gcwalk::Status& st) {
    t_jit_error = st ? std::string() : st.message();
    return st ? 0 : -1;
}
} // namespace

GCWALK_RT_API int gcwalk_rt_add_jit_object(const char* name, const uint8_t* stackmaps,
                                           uint64_t stackmaps_size, const uint8_t* eh_frame,
                                           uint64_t eh_frame_size, uint64_t eh_frame_address,
                                           const uint64_t* functions, uint64_t num_functions,
                                           uint64_t* handle) {
    using namespace gcwalk;
    try {
        if ((!stackmaps && stackmaps_size) || !eh_frame || (!functions && num_functions))
            return jit_result(Error{"gcwalk_rt_add_jit_object: null bytes with a non-zero size"});
        ImageRegistry::JitObject object;
        object.stackmaps = {stackmaps, stackmaps_size};
        object.eh_frame = {eh_frame, eh_frame_size};
        object.eh_frame_address = eh_frame_address;
        for (uint64_t i = 0; i < num_functions; ++i)
            object.functions.push_back({functions[2 * i], functions[2 * i + 1]});
        auto h = g_rt->jit->add(name ? name : "jit", object);
        if (h && handle) *handle = *h;
        return jit_result(h ? Status{} : Status{Error{h.error().message}});
    } catch (const std::exception& e) {
        return jit_result(Error{std::string("gcwalk_rt_add_jit_object: ") + e.what()});
    }
}

GCWALK_RT_API int gcwalk_rt_remove_jit_object(uint64_t handle) {
    try {
        return jit_result(g_rt->jit->remove(handle));
    } catch (const std::exception& e) {
        return jit_result(gcwalk::Error{std::string("gcwalk_rt_remove_jit_object: ") + e.what()});
    }
}

GCWALK_RT_API const char* gcwalk_rt_jit_error(void) {
    return t_jit_error.c_str();
}
