/* The C API of gcwalk, for runtimes written in C or other languages: a registry of the process's
 * stack maps, the safepoint entry, and relocating or visiting the roots of a stopped thread.
 *
 *   gcwalk_registry* reg = gcwalk_registry_create();
 *   if (gcwalk_registry_rescan(reg) != 0) log(gcwalk_registry_last_error(reg));
 *   ...
 *   static void at_safepoint(gcwalk_context* ctx, void* heap) {
 *       gcwalk_walk_error err;
 *       if (gcwalk_relocate_roots(ctx, reg, move_object, heap, NULL, NULL, &err) != 0) abort();
 *   }
 *   gcwalk_enter(at_safepoint, heap);
 *
 * Functions returning int give 0 on success and -1 on failure. Handles (registry, context) must
 * be non-NULL. The walking functions never allocate, throw or lock. */
#ifndef GCWALK_GCWALK_H
#define GCWALK_GCWALK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the registry (load time; calls on one registry are serialised internally) ---- */

typedef struct gcwalk_registry gcwalk_registry;

typedef struct gcwalk_function_range {
    uint64_t address; /* absolute */
    uint64_t size;    /* bytes */
} gcwalk_function_range;

/* A registry with nothing scanned yet; NULL only when out of memory. */
gcwalk_registry* gcwalk_registry_create(void);
void gcwalk_registry_destroy(gcwalk_registry* registry);
/* Adds images loaded since the last scan and drops unloaded ones (call at start and after dlopen).
 */
int gcwalk_registry_rescan(gcwalk_registry* registry);
/* Stack maps of JIT code at final addresses (`bytes` is copied); *handle receives its handle. */
int gcwalk_registry_add_jit(gcwalk_registry* registry, const char* name, const uint8_t* bytes,
                            size_t size, const gcwalk_function_range* functions,
                            size_t num_functions, uint64_t* handle);
int gcwalk_registry_remove_jit(gcwalk_registry* registry, uint64_t handle);
/* Frees indexes replaced by later changes: only while no thread walks (world stopped). */
void gcwalk_registry_reclaim(gcwalk_registry* registry);
/* Number of safepoints (call sites with a record) in the current index. */
size_t gcwalk_registry_num_call_sites(const gcwalk_registry* registry);
/* The message of the last failed call on this registry ("" if none); valid until the next call. */
const char* gcwalk_registry_last_error(const gcwalk_registry* registry);

/* ---- collection time ---- */

/* What a thread leaves at a safepoint (a gcwalk::SafepointContext); valid while the callback runs.
 */
typedef struct gcwalk_context gcwalk_context;
typedef void (*gcwalk_safepoint_fn)(gcwalk_context* context, void* arg);

/* Saves every callee-saved register in memory (gcwalk_safepoint_enter), captures the context,
 * calls fn(context, arg), and returns with the possibly relocated registers. */
void gcwalk_enter(gcwalk_safepoint_fn fn, void* arg);

/* The return address and SP of the code that called gcwalk_enter's stub (see docs/API.md). */
uint64_t gcwalk_context_caller_return_address(const gcwalk_context* context);
uint64_t gcwalk_context_caller_sp(const gcwalk_context* context);

enum { GCWALK_WALKER_LIBUNWIND = 0, GCWALK_WALKER_FAST = 1 };

/* A thread's last fast walk, re-checked instead of re-stepped when its frames did not change;
 * see gcwalk::WalkCache. One per thread; destroy (or clear) it when its thread ends. */
typedef struct gcwalk_walk_cache gcwalk_walk_cache;
/* max_frames: frames kept (0: 4096); max_roots: root slots kept (0: 8 per frame). NULL when
 * memory is short. */
gcwalk_walk_cache* gcwalk_walk_cache_create(uint32_t max_frames, uint32_t max_roots);
void gcwalk_walk_cache_destroy(gcwalk_walk_cache* cache);
void gcwalk_walk_cache_clear(gcwalk_walk_cache* cache);

typedef struct gcwalk_walk_options {
    int walker;       /* GCWALK_WALKER_* */
    int precise;      /* nonzero: stop at the first error; zero: best-effort, count and go on */
    uint64_t stop_sp; /* nonzero: end the walk at the first frame whose SP is above this */
    gcwalk_walk_cache* cache; /* GCWALK_WALKER_FAST only; may be NULL */
} gcwalk_walk_options;        /* NULL options: libunwind walker, precise, whole stack, no cache */

typedef struct gcwalk_walk_stats {
    uint64_t frames;  /* managed frames with a record */
    uint64_t roots;   /* distinct non-null slots */
    uint64_t skipped; /* best-effort: problems passed over */
    uint64_t cached;  /* frames taken from the walk cache */
} gcwalk_walk_stats;

typedef struct gcwalk_walk_error {
    uint64_t address;  /* return address of the frame concerned, 0 if none */
    char message[256]; /* "" when there was no error */
} gcwalk_walk_error;

/* Moves one object (non-null old base); returns its new address. */
typedef void* (*gcwalk_move_fn)(void* old_base, void* user);

/* Relocates every root of the thread stopped in `context`; see gcwalk::relocate_roots.
 * stats, error and options may be NULL. */
int gcwalk_relocate_roots(const gcwalk_context* context, const gcwalk_registry* registry,
                          gcwalk_move_fn move, void* user, const gcwalk_walk_options* options,
                          gcwalk_walk_stats* stats, gcwalk_walk_error* error);

typedef struct gcwalk_visitor {
    void (*frame)(uint64_t return_address, uint64_t sp, void* user);    /* may be NULL */
    void (*root)(void** slot, void* user);                              /* may be NULL */
    void (*derived)(void** base_slot, void** derived_slot, void* user); /* may be NULL */
    void* user;
} gcwalk_visitor;

/* Visits every root without moving anything; see gcwalk::visit_roots. */
int gcwalk_visit_roots(const gcwalk_context* context, const gcwalk_registry* registry,
                       const gcwalk_visitor* visitor, const gcwalk_walk_options* options,
                       gcwalk_walk_stats* stats, gcwalk_walk_error* error);

/* One managed frame's roots, as gcwalk_visit_frames hands them over (gcwalk::FrameRoots): the
 * distinct base slots of its pairs (a slot may hold null) and each derived slot that is nobody's
 * base with its base's slot. To relocate: read every old value of the frame first, move each
 * non-null base once, then set each derived slot to new base + (old derived - old base). The
 * arrays live until the callback returns. */
typedef struct gcwalk_derived_slot {
    void** base;
    void** derived;
} gcwalk_derived_slot;

typedef struct gcwalk_frame_roots {
    uint64_t return_address;
    uint64_t sp;
    void** const* slots;
    const gcwalk_derived_slot* derived;
    uint32_t num_slots;
    uint32_t num_derived;
} gcwalk_frame_roots;

typedef void (*gcwalk_frame_fn)(const gcwalk_frame_roots* frame, void* user);

/* One call per managed frame that has roots, with them as arrays (the batch form of
 * gcwalk_visit_roots; frames without a root slot are counted in stats->frames, not handed over);
 * stats->roots counts the slots handed over. Errors as gcwalk_relocate_roots. See
 * gcwalk::visit_frames. */
int gcwalk_visit_frames(const gcwalk_context* context, const gcwalk_registry* registry,
                        gcwalk_frame_fn fn, void* user, const gcwalk_walk_options* options,
                        gcwalk_walk_stats* stats, gcwalk_walk_error* error);

/* ---- JIT-compiled objects (load time) ---- */

/* Registers a JIT-compiled object at its final addresses (after the JIT's fixups) with both
 * walkers: gcwalk computes function ranges from its FDEs (and `functions`, which may be NULL),
 * the exact frame rule of every call site from its .eh_frame, and native-frame rules for its
 * functions without stack maps; its .eh_frame is registered with libunwind too. `eh_frame` is
 * the section where it lies in memory: it and the code must stay there until the object is
 * removed. `stackmaps` (its .llvm_stackmaps bytes; may be empty for native-only code) is copied.
 * On error nothing is registered and gcwalk_registry_last_error names the object and offset.
 * Other threads may walk meanwhile (gcwalk_registry_reclaim: see gcwalk::ImageRegistry::index). */
int gcwalk_registry_add_jit_object(gcwalk_registry* registry, const char* name,
                                   const uint8_t* stackmaps, size_t stackmaps_size,
                                   const uint8_t* eh_frame, size_t eh_frame_size,
                                   const gcwalk_function_range* functions, size_t num_functions,
                                   uint64_t* handle);
/* Removes an object added by gcwalk_registry_add_jit_object, before its code is freed. */
int gcwalk_registry_remove_jit_object(gcwalk_registry* registry, uint64_t handle);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GCWALK_GCWALK_H */
