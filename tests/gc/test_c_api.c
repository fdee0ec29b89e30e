/* The C API from C: a registry, the safepoint entry, relocation with a C mover, and a visit with C
 * callbacks, on roots.ll (plain) compiled by opt-14/llc-14. Exits non-zero on the first failure. */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include <gcwalk/gcwalk.h>

#include <link.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t gr_sum(int64_t a, int64_t b);
int64_t gr_recurse(int64_t n);
int64_t gr_null(int64_t a);

static int failures = 0;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            ++failures;                                                                            \
        }                                                                                          \
    } while (0)

enum { kObjectSize = 32 };
static gcwalk_registry* registry;
static int visiting;             /* rt_collect visits instead of relocating */
static gcwalk_walk_cache* cache; /* relocation with the fast walker and this cache, when set */
static uint64_t moves, frames_seen, roots_seen;
static gcwalk_walk_stats stats;
static gcwalk_walk_error error;
static int result;
static uint64_t caller_ra;

/* Every block ever handed out (live or poisoned), freed at exit. */
static void* blocks[4096];
static size_t num_blocks;
static void* track(void* p) {
    if (num_blocks < sizeof blocks / sizeof blocks[0]) blocks[num_blocks++] = p;
    return p;
}

void* rt_alloc(int64_t size) {
    return track(calloc(1, (size_t)size));
}
int64_t rt_native(int64_t b) {
    return b;
}
void* rt_null(void) {
    return NULL;
}

/* Copies the object and poisons the old copy (never freed: a stale root would read 0xdd). */
static void* move(void* old_base, void* user) {
    void* fresh = track(malloc(kObjectSize));
    (void)user;
    memcpy(fresh, old_base, kObjectSize);
    memset(old_base, 0xdd, kObjectSize);
    ++moves;
    return fresh;
}

static void on_frame(uint64_t ra, uint64_t sp, void* user) {
    (void)ra, (void)sp, (void)user;
    ++frames_seen;
}
static void on_root(void** slot, void* user) {
    (void)user;
    if (*slot) ++roots_seen;
}

/* The batch form: relocates each frame from its arrays (no derived pointers in these frames). */
static void on_frame_roots(const gcwalk_frame_roots* f, void* user) {
    ++frames_seen;
    CHECK(f->num_derived == 0);
    for (uint32_t i = 0; i < f->num_slots; ++i) {
        void* old = *f->slots[i];
        if (old) *f->slots[i] = move(old, user);
    }
}

static void at_safepoint(gcwalk_context* ctx, void* arg) {
    (void)arg;
    caller_ra = gcwalk_context_caller_return_address(ctx);
    if (visiting == 2) {
        gcwalk_walk_options opts = {GCWALK_WALKER_FAST, 1, 0, NULL};
        result = gcwalk_visit_frames(ctx, registry, on_frame_roots, NULL, &opts, &stats, &error);
    } else if (visiting) {
        gcwalk_visitor v = {on_frame, on_root, NULL, NULL};
        result = gcwalk_visit_roots(ctx, registry, &v, NULL, &stats, &error);
    } else {
        gcwalk_walk_options opts = {GCWALK_WALKER_LIBUNWIND, 1, 0, NULL};
        if (cache) {
            opts.walker = GCWALK_WALKER_FAST;
            opts.cache = cache;
        }
        result = gcwalk_relocate_roots(ctx, registry, move, NULL, &opts, &stats, &error);
    }
}

void rt_collect(void) {
    gcwalk_enter(at_safepoint, NULL);
}

/* The executable's .eh_frame in memory: eh_frame_ptr of its .eh_frame_hdr (pcrel sdata4, as GNU
 * ld writes it), up to the end of the segment that holds it. */
struct eh_frame_at {
    uint64_t address, size;
};
static int find_eh_frame(struct dl_phdr_info* info, size_t size, void* data) {
    struct eh_frame_at* out = (struct eh_frame_at*)data;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        if (info->dlpi_phdr[i].p_type != PT_GNU_EH_FRAME) continue;
        const uint8_t* hdr = (const uint8_t*)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        int32_t rel;
        if (hdr[1] != 0x1b) return 1;
        memcpy(&rel, hdr + 4, 4);
        out->address = (uint64_t)(uintptr_t)(hdr + 4) + (uint64_t)(int64_t)rel;
        for (int j = 0; j < info->dlpi_phnum; ++j) {
            const uint64_t lo = info->dlpi_addr + info->dlpi_phdr[j].p_vaddr;
            if (info->dlpi_phdr[j].p_type == PT_LOAD && out->address >= lo &&
                out->address < lo + info->dlpi_phdr[j].p_memsz)
                out->size = lo + info->dlpi_phdr[j].p_memsz - out->address;
        }
    }
    return 1; /* the executable only */
}

int main(void) {
    registry = gcwalk_registry_create();
    CHECK(registry != NULL);
    CHECK(gcwalk_registry_rescan(registry) == 0);
    CHECK(strcmp(gcwalk_registry_last_error(registry), "") == 0);
    CHECK(gcwalk_registry_num_call_sites(registry) > 0);

    /* Relocation: both objects move and the managed code reads them back. */
    CHECK(gr_sum(1000, 234) == 1234);
    CHECK(result == 0);
    CHECK(moves == 2);
    CHECK(stats.frames == 1 && stats.roots == 2);
    CHECK(error.message[0] == '\0');
    CHECK(caller_ra != 0);

    moves = 0;
    CHECK(gr_recurse(10) == 55);
    CHECK(result == 0 && moves == 11 && stats.frames == 11);

    /* A null root stays null and is not counted; the object beside it moves. */
    moves = 0;
    CHECK(gr_null(41) == 42);
    CHECK(result == 0 && moves == 1 && stats.frames == 1 && stats.roots == 1);

    /* The fast walker with a walk cache: the same relocation. The stub's caller here is native
     * (rt_collect), so nothing can be taken from the cache: only walks that start at a managed
     * frame (a runtime's entry trampoline, or managed code calling the stub) are recorded. */
    cache = gcwalk_walk_cache_create(0, 0);
    CHECK(cache != NULL);
    for (int round = 0; round < 2; ++round) {
        moves = 0;
        CHECK(gr_recurse(10) == 55);
        CHECK(result == 0 && moves == 11 && stats.frames == 11 && stats.cached == 0);
    }
    gcwalk_walk_cache_clear(cache);
    gcwalk_walk_cache_destroy(cache);
    cache = NULL;

    /* Visiting: callbacks per frame and per root, nothing moves. */
    visiting = 1;
    moves = 0;
    CHECK(gr_recurse(4) == 10);
    CHECK(result == 0 && moves == 0);
    CHECK(frames_seen == 5 && roots_seen == 5);

    /* The batch form: one call per frame with its slots, relocated by the callback. */
    visiting = 2;
    moves = frames_seen = 0;
    CHECK(gr_recurse(6) == 21);
    CHECK(result == 0 && moves == 7 && frames_seen == 7 && stats.frames == 7 && stats.roots == 7);
    visiting = 0;

    /* A JIT blob that is not a stack map: an error with a message. */
    {
        static const uint8_t junk[4] = {1, 2, 3, 4};
        uint64_t handle = 0;
        CHECK(gcwalk_registry_add_jit(registry, "junk", junk, sizeof junk, NULL, 0, &handle) == -1);
        CHECK(strlen(gcwalk_registry_last_error(registry)) > 0);
        printf("expected add_jit error: %s\n", gcwalk_registry_last_error(registry));
    }

    /* A JIT object: this executable's own .eh_frame (native code only, no stack maps), found
     * through its .eh_frame_hdr; the parse stops at the section's zero terminator. Then bad ones.
     */
    {
        struct eh_frame_at found = {0, 0};
        dl_iterate_phdr(find_eh_frame, &found);
        CHECK(found.address != 0);
        uint64_t handle = 0;
        CHECK(gcwalk_registry_add_jit_object(registry, "self", NULL, 0,
                                             (const uint8_t*)(uintptr_t)found.address, found.size,
                                             NULL, 0, &handle) == 0);
        CHECK(strcmp(gcwalk_registry_last_error(registry), "") == 0);
        moves = 0; /* libunwind now also finds these FDEs in its dynamic list: it still walks */
        CHECK(gr_sum(1, 2) == 3 && result == 0 && moves == 2);
        CHECK(gcwalk_registry_remove_jit_object(registry, handle) == 0);
        CHECK(gcwalk_registry_remove_jit_object(registry, handle) == -1);
        CHECK(strstr(gcwalk_registry_last_error(registry), "no JIT object with handle") != NULL);
        gcwalk_registry_reclaim(registry);

        static const uint8_t junk[3] = {1, 2, 3};
        CHECK(gcwalk_registry_add_jit_object(registry, "junk", NULL, 0, junk, sizeof junk, NULL, 0,
                                             &handle) == -1);
        CHECK(strstr(gcwalk_registry_last_error(registry),
                     "(3 bytes), offset 0x0: truncated entry (3 bytes left)") != NULL);
        CHECK(gcwalk_registry_add_jit_object(registry, "none", NULL, 0, NULL, 0, NULL, 0,
                                             &handle) == -1);
        CHECK(strcmp(gcwalk_registry_last_error(registry), "add_jit_object: no .eh_frame bytes") ==
              0);
    }

    gcwalk_registry_destroy(registry);
    while (num_blocks > 0) free(blocks[--num_blocks]);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    else
        printf("c api: all checks passed\n");
    return failures ? 1 : 0;
}
