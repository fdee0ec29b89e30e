/* The C ABI of the reference moving runtime (libgcwalk-runtime.so): what managed code and its
 * native host call. Managed IR declares the same functions (see docs/RUNTIME.md):
 *
 *   declare i8 addrspace(1)* @gcwalk_rt_alloc(i64, i64)
 *   declare void @gcwalk_rt_safepoint()
 *   declare void @gcwalk_rt_collect()
 *   declare void @gcwalk_rt_attach_thread()
 *   declare void @gcwalk_rt_detach_thread()
 *
 * Every one of them is a safepoint: a collection may run (and move every object) inside it.
 * Native code must not keep object addresses across these calls: only managed frames are roots. */
#ifndef GCWALK_RUNTIME_H
#define GCWALK_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A new object: num_ptr_fields reference fields of 8 bytes (null), then num_data_bytes bytes of
 * plain data (zero). Returns the address of the first field; the header lies before it. */
void* gcwalk_rt_alloc(uint64_t num_ptr_fields, uint64_t num_data_bytes);

/* A safepoint poll: parks the thread if another one collects; may collect under GCWALK_STRESS. */
void gcwalk_rt_safepoint(void);

/* A full moving collection, now. */
void gcwalk_rt_collect(void);

/* A thread attaches before it runs managed code (again: no effect) and detaches before it ends or
 * blocks outside managed code; a detached thread's stack is not walked, so it must hold no object
 * addresses in live managed frames while detached. A thread that calls the runtime unattached is
 * attached then, and detached when it ends. */
void gcwalk_rt_attach_thread(void);
void gcwalk_rt_detach_thread(void);

/* Totals over all collections so far (what GCWALK_STATS=1 prints at exit). */
struct gcwalk_rt_stats {
    uint64_t collections;  /* collections run */
    uint64_t frames;       /* frames walked that have a stack map record */
    uint64_t roots;        /* distinct non-null root slots visited (base and derived) */
    uint64_t walk_ns;      /* = root_ns (kept for existing readers) */
    uint64_t copied_bytes; /* bytes of objects copied, headers included */
    uint64_t
        cached_frames; /* of `frames`, those re-checked from the thread's walk cache, not stepped */
    /* Phases of the collections, in nanoseconds; each one a clock interval, never a difference of
     * sums. Disjoint parts of total_ns: stw_ns + root_ns + copy_ns <= total_ns. */
    uint64_t stw_ns;   /* from a collection request until every other attached thread is parked */
    uint64_t root_ns;  /* walking every stack and forwarding its roots; no object bytes copied */
    uint64_t copy_ns;  /* copying the forwarded objects, then the Cheney scan of what they reach */
    uint64_t total_ns; /* from the request until the world is released (poisoning included) */
};
void gcwalk_rt_get_stats(struct gcwalk_rt_stats* out);

/* JIT-compiled managed code run under the runtime (for the JIT glue, gcwalk::jit, or any JIT):
 * registers an object's final bytes with both walkers (gcwalk::JitObjects). `stackmaps` (may be
 * empty) and `eh_frame` are the sections' bytes after the JIT's relocations; the .eh_frame lies
 * at `eh_frame_address` in memory by the time the code runs, and it and the code stay there
 * until the object is removed. `functions` holds (address, size) pairs, `num_functions` of them
 * (may be 0). Returns 0 and a handle, or -1 with gcwalk_rt_jit_error() naming what and where.
 * Any thread may call these while others run managed code and collect: what removals retire is
 * freed at the next collection, with the world stopped. */
int gcwalk_rt_add_jit_object(const char* name, const uint8_t* stackmaps, uint64_t stackmaps_size,
                             const uint8_t* eh_frame, uint64_t eh_frame_size,
                             uint64_t eh_frame_address, const uint64_t* functions,
                             uint64_t num_functions, uint64_t* handle);
int gcwalk_rt_remove_jit_object(uint64_t handle);
/* The calling thread's last gcwalk_rt_add_jit_object / _remove_jit_object error ("" if none). */
const char* gcwalk_rt_jit_error(void);

#ifdef __cplusplus
}
#endif

#endif /* GCWALK_RUNTIME_H */
