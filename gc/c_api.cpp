// The C API (include/gcwalk/gcwalk.h): thin wrappers over ImageRegistry, the safepoint stub and
// relocate_roots / visit_roots; load-time errors are kept per registry as a string.
#include <gcwalk/gcwalk.h>
#include <gcwalk/image_registry.hpp>
#include <gcwalk/jit_objects.hpp>
#include <gcwalk/roots.hpp>

#include <cstring>
#include <new>

struct gcwalk_registry {
    gcwalk::ImageRegistry registry;
    std::string last_error;
    gcwalk::JitObjects jit{registry}; // gcwalk_registry_add_jit_object's objects
};

// gcwalk_context is the C name of gcwalk::SafepointContext: never defined, only cast.
struct gcwalk_context;

namespace {

const gcwalk::SafepointContext& cxx(const gcwalk_context* c) {
    return *reinterpret_cast<const gcwalk::SafepointContext*>(c);
}

int fail(gcwalk_registry* r, std::string message) {
    r->last_error = std::move(message);
    return -1;
}

gcwalk::WalkOptions options_of(const gcwalk_walk_options* o) {
    gcwalk::WalkOptions out;
    if (o) {
        out.walker = o->walker == GCWALK_WALKER_FAST ? gcwalk::WalkerKind::Fast
                                                     : gcwalk::WalkerKind::Libunwind;
        out.precise = o->precise != 0;
        out.stop_sp = o->stop_sp;
        out.cache = reinterpret_cast<gcwalk::WalkCache*>(o->cache);
    }
    return out;
}

void copy_out(const gcwalk::WalkStats& s, const gcwalk::WalkError& e, gcwalk_walk_stats* stats,
              gcwalk_walk_error* error) {
    if (stats) *stats = {s.frames, s.roots, s.skipped, s.cached};
    if (error) {
        error->address = e.address;
        static_assert(sizeof error->message == sizeof e.message);
        std::memcpy(error->message, e.message, sizeof error->message);
    }
}

struct Trampoline {
    gcwalk_safepoint_fn fn;
    void* arg;
};

void trampoline(gcwalk::SafepointContext* ctx, void* arg) {
    auto* t = static_cast<Trampoline*>(arg);
    t->fn(reinterpret_cast<gcwalk_context*>(ctx), t->arg);
}

struct CVisitor final : gcwalk::RootVisitor {
    const gcwalk_visitor* v;
    explicit CVisitor(const gcwalk_visitor* visitor) : v(visitor) {}
    void root(void** slot) override {
        if (v->root) v->root(slot, v->user);
    }
    void derived(void** base_slot, void** derived_slot) override {
        if (v->derived) v->derived(base_slot, derived_slot, v->user);
    }
    void frame(uint64_t return_address, uint64_t sp) override {
        if (v->frame) v->frame(return_address, sp, v->user);
    }
};

} // namespace

namespace gcwalk::detail {
bool visit_frames_c(const SafepointContext& ctx, const FrameIndex& index, gcwalk_frame_fn fn,
                    void* user, const WalkOptions& options, WalkStats* stats,
                    WalkError* error) noexcept; // gc/roots.cpp
} // namespace gcwalk::detail

extern "C" {

gcwalk_registry* gcwalk_registry_create(void) {
    try {
        return new gcwalk_registry;
    } catch (...) {
        return nullptr; // out of memory: the header promises NULL, never an exception
    }
}

void gcwalk_registry_destroy(gcwalk_registry* registry) {
    delete registry;
}

int gcwalk_registry_rescan(gcwalk_registry* registry) {
    try {
        gcwalk::Status st = registry->registry.rescan();
        if (!st) return fail(registry, st.message());
        registry->last_error.clear();
        return 0;
    } catch (const std::exception& e) {
        return fail(registry, std::string("rescan: ") + e.what());
    }
}

int gcwalk_registry_add_jit(gcwalk_registry* registry, const char* name, const uint8_t* bytes,
                            size_t size, const gcwalk_function_range* functions,
                            size_t num_functions, uint64_t* handle) {
    try {
        if (!bytes && size != 0) return fail(registry, "add_jit: null bytes with a non-zero size");
        std::vector<gcwalk::FunctionRange> ranges;
        ranges.reserve(num_functions);
        for (size_t i = 0; i < num_functions; ++i)
            ranges.push_back({functions[i].address, functions[i].size});
        auto h = registry->registry.add_jit(
            name ? name : "jit", std::span<const uint8_t>(bytes, size), std::move(ranges));
        if (!h) return fail(registry, h.error().message);
        if (handle) *handle = *h;
        registry->last_error.clear();
        return 0;
    } catch (const std::exception& e) {
        return fail(registry, std::string("add_jit: ") + e.what());
    }
}

int gcwalk_registry_remove_jit(gcwalk_registry* registry, uint64_t handle) {
    try {
        gcwalk::Status st = registry->registry.remove_jit(handle);
        if (!st) return fail(registry, st.message());
        registry->last_error.clear();
        return 0;
    } catch (const std::exception& e) {
        return fail(registry, std::string("remove_jit: ") + e.what());
    }
}

void gcwalk_registry_reclaim(gcwalk_registry* registry) {
    registry->jit
        .reclaim(); // the registry's retired indexes, then removed JIT objects' unwind info
}

size_t gcwalk_registry_num_call_sites(const gcwalk_registry* registry) {
    return registry->registry.index().num_call_sites();
}

const char* gcwalk_registry_last_error(const gcwalk_registry* registry) {
    return registry->last_error.c_str();
}

void gcwalk_enter(gcwalk_safepoint_fn fn, void* arg) {
    Trampoline t{fn, arg};
    gcwalk_safepoint_enter(trampoline, &t);
}

uint64_t gcwalk_context_caller_return_address(const gcwalk_context* context) {
    return cxx(context).caller_return_address;
}

uint64_t gcwalk_context_caller_sp(const gcwalk_context* context) {
    return cxx(context).caller_sp;
}

gcwalk_walk_cache* gcwalk_walk_cache_create(uint32_t max_frames, uint32_t max_roots) {
    try {
        return reinterpret_cast<gcwalk_walk_cache*>(
            new gcwalk::WalkCache(max_frames ? max_frames : 4096, max_roots));
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}

void gcwalk_walk_cache_destroy(gcwalk_walk_cache* cache) {
    delete reinterpret_cast<gcwalk::WalkCache*>(cache);
}

void gcwalk_walk_cache_clear(gcwalk_walk_cache* cache) {
    if (cache) reinterpret_cast<gcwalk::WalkCache*>(cache)->clear();
}

int gcwalk_relocate_roots(const gcwalk_context* context, const gcwalk_registry* registry,
                          gcwalk_move_fn move, void* user, const gcwalk_walk_options* options,
                          gcwalk_walk_stats* stats, gcwalk_walk_error* error) {
    gcwalk::WalkStats s;
    gcwalk::WalkError e;
    bool ok = gcwalk::relocate_roots(cxx(context), registry->registry.index(), move, user,
                                     options_of(options), &s, &e);
    copy_out(s, e, stats, error);
    return ok ? 0 : -1;
}

int gcwalk_visit_roots(const gcwalk_context* context, const gcwalk_registry* registry,
                       const gcwalk_visitor* visitor, const gcwalk_walk_options* options,
                       gcwalk_walk_stats* stats, gcwalk_walk_error* error) {
    gcwalk_visitor none{};
    CVisitor v(visitor ? visitor : &none);
    gcwalk::WalkStats s;
    gcwalk::WalkError e;
    bool ok = gcwalk::visit_roots(cxx(context), registry->registry.index(), v, options_of(options),
                                  &s, &e);
    copy_out(s, e, stats, error);
    return ok ? 0 : -1;
}

int gcwalk_visit_frames(const gcwalk_context* context, const gcwalk_registry* registry,
                        gcwalk_frame_fn fn, void* user, const gcwalk_walk_options* options,
                        gcwalk_walk_stats* stats, gcwalk_walk_error* error) {
    gcwalk::WalkStats s;
    gcwalk::WalkError e;
    bool ok = gcwalk::detail::visit_frames_c(cxx(context), registry->registry.index(), fn, user,
                                             options_of(options), &s, &e);
    copy_out(s, e, stats, error);
    return ok ? 0 : -1;
}

} // extern "C"

namespace {

// Runs a load-time call of the JIT functions: 0, or -1 with the message kept (what, then why).
template <class F> int guarded(gcwalk_registry* r, const char* what, F call) {
    try {
        gcwalk::Status st = call();
        if (!st) return fail(r, st.message());
        r->last_error.clear();
        return 0;
    } catch (const std::exception& e) {
        return fail(r, std::string(what) + ": " + e.what());
    }
}

} // namespace

extern "C" {

int gcwalk_registry_add_jit_object(gcwalk_registry* registry, const char* name,
                                   const uint8_t* stackmaps, size_t stackmaps_size,
                                   const uint8_t* eh_frame, size_t eh_frame_size,
                                   const gcwalk_function_range* functions, size_t num_functions,
                                   uint64_t* handle) {
    return guarded(registry, "add_jit_object", [&]() -> gcwalk::Status {
        if (!stackmaps && stackmaps_size != 0)
            return gcwalk::Error{"add_jit_object: null stack maps with a non-zero size"};
        if (!eh_frame || eh_frame_size == 0)
            return gcwalk::Error{"add_jit_object: no .eh_frame bytes"};
        if (!functions && num_functions != 0)
            return gcwalk::Error{"add_jit_object: null functions with a non-zero count"};
        gcwalk::ImageRegistry::JitObject object;
        object.stackmaps = {stackmaps, stackmaps_size};
        object.eh_frame = {eh_frame, eh_frame_size};
        object.eh_frame_address = reinterpret_cast<uintptr_t>(eh_frame);
        for (size_t i = 0; i < num_functions; ++i)
            object.functions.push_back({functions[i].address, functions[i].size});
        auto h = registry->jit.add(name ? name : "jit", object);
        if (!h) return gcwalk::Error{h.error().message};
        if (handle) *handle = *h;
        return {};
    });
}

int gcwalk_registry_remove_jit_object(gcwalk_registry* registry, uint64_t handle) {
    return guarded(registry, "remove_jit_object", [&] { return registry->jit.remove(handle); });
}

} // extern "C"
