/* The demo's native host: runs the managed program of demo.ll under the gcwalk moving collector,
 * recomputes every answer independently in plain C, and prints what the collector did. */
#include <gcwalk/runtime.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef GCWALK_DEMO_JIT
/* gcwalk-jit-demo: the same demo.ll compiled at run time by ORC (src/jit/demo/jit_demo.cpp), which
 * hands over its entry points, and then reports what registering the JIT's objects cost. */
struct gcwalk_demo_program {
    int64_t (*trees)(int64_t);
    int64_t (*lists)(int64_t);
    int64_t (*strings)(int64_t);
    int64_t (*map)(int64_t);
};
int gcwalk_demo_jit_compile(struct gcwalk_demo_program* out);
void gcwalk_demo_jit_report(void);
static struct gcwalk_demo_program jit_program;
#define demo_trees jit_program.trees
#define demo_lists jit_program.lists
#define demo_strings jit_program.strings
#define demo_map jit_program.map
#else
/* Managed entry points (demo.ll). */
int64_t demo_trees(int64_t max_depth);
int64_t demo_lists(int64_t n);
int64_t demo_strings(int64_t n);
int64_t demo_map(int64_t n);
#endif

/* ---- the same computations without a heap ---- */

static int64_t tree_check(int64_t depth, int64_t value) {
    if (depth < 0) return 0; /* a null child */
    return value + tree_check(depth - 1, 2 * value - 1) - tree_check(depth - 1, 2 * value);
}

static int64_t expect_trees(int64_t max_depth) {
    /* tree_build(0, v) is one node with null children: depth 0 in demo.ll is depth 0 here. */
    uint64_t total = 0;
    for (int64_t d = 4; d <= max_depth; d += 2)
        for (int64_t i = 1; i <= (int64_t)1 << (max_depth - d); ++i)
            total += (uint64_t)tree_check(d, i);
    return (int64_t)(total + 7 * (uint64_t)tree_check(max_depth, 1));
}

static int64_t expect_lists(int64_t n) {
    uint64_t acc = 0;
    for (uint64_t i = 1; i <= (uint64_t)n; ++i)
        acc += i * (i * i + i); /* position i holds value i */
    return (int64_t)acc;
}

/* Appends "k<v>" to buf at *len. */
static void append_key(char* buf, size_t* len, uint64_t v) {
    *len += (size_t)sprintf(buf + *len, "k%llu", (unsigned long long)v);
}

static uint64_t hash_chars(const char* s, size_t n) {
    uint64_t h = 0;
    for (size_t i = 0; i < n; ++i) h = h * 31 + (unsigned char)s[i];
    return h;
}

static int64_t expect_strings(int64_t n) {
    char* buf = malloc((size_t)n * 24 + 1);
    size_t len = 0;
    for (uint64_t i = 0; i < (uint64_t)n; ++i) append_key(buf, &len, i * i);
    uint64_t h = hash_chars(buf, len);
    free(buf);
    return (int64_t)(h * 31 + len);
}

static int64_t expect_map(int64_t n) {
    uint64_t* keys = malloc((size_t)n * sizeof *keys);
    for (int64_t i = 0; i < n; ++i) keys[i] = (uint64_t)i * 7919 % 100003;
    uint64_t sum = 0, found = 0;
    for (int64_t j = 0; j < 2 * n; ++j) {
        uint64_t k = (uint64_t)j * 7919 % 100003;
        /* The managed map finds the most recent insertion of a key first. */
        for (int64_t i = n - 1; i >= 0; --i)
            if (keys[i] == k) {
                sum += (uint64_t)i + 1;
                ++found;
                break;
            }
    }
    free(keys);
    return (int64_t)(sum * 1000003 + found);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int check(const char* what, int64_t got, int64_t expected) {
    int ok = got == expected;
    printf("  %-34s %20lld  expected %20lld  %s\n", what, (long long)got, (long long)expected,
           ok ? "PASS" : "FAIL");
    return ok;
}

int main(int argc, char** argv) {
    /* Sizes: tree depth, list length, number of concatenated strings, map entries. */
    int64_t depth = argc > 1 ? atoll(argv[1]) : 9;
    int64_t list_n = argc > 2 ? atoll(argv[2]) : 1000;
    int64_t string_n = argc > 3 ? atoll(argv[3]) : 80;
    int64_t map_n = argc > 4 ? atoll(argv[4]) : 100;
    const char* stress = getenv("GCWALK_STRESS");

#ifdef GCWALK_DEMO_JIT
    printf("gcwalk jit demo: a managed program (IR compiled at run time by ORC, LLVM %d) under "
           "the gcwalk moving collector\n",
           GCWALK_LLVM_MAJOR);
    if (gcwalk_demo_jit_compile(&jit_program) != 0) return 1;
#else
    printf("gcwalk demo: a managed program (IR compiled by opt-%d/llc-%d) under the gcwalk "
           "moving collector\n",
           GCWALK_LLVM_MAJOR, GCWALK_LLVM_MAJOR);
#endif
    printf("  collection trigger: %s\n",
           stress && *stress ? (strcmp(stress, "1") == 0
                                    ? "GCWALK_STRESS=1 (a moving collection at every allocation)"
                                    : "GCWALK_STRESS (every N-th allocation or poll)")
                             : "heap full");
    gcwalk_rt_attach_thread();
    double t0 = now_s();
    int64_t trees = demo_trees(depth);
    int64_t lists = demo_lists(list_n);
    int64_t strings = demo_strings(string_n);
    int64_t map = demo_map(map_n);
    double elapsed = now_s() - t0;
    struct gcwalk_rt_stats st;
    gcwalk_rt_get_stats(&st);
    gcwalk_rt_detach_thread();

    printf("answers (managed, moving heap) vs. the same computations in plain C:\n");
    int ok = 1;
    char what[64];
    snprintf(what, sizeof what, "binary trees, depth %lld", (long long)depth);
    ok &= check(what, trees, expect_trees(depth));
    snprintf(what, sizeof what, "list of %lld, reversed", (long long)list_n);
    ok &= check(what, lists, expect_lists(list_n));
    snprintf(what, sizeof what, "%lld strings of char objects", (long long)string_n);
    ok &= check(what, strings, expect_strings(string_n));
    snprintf(what, sizeof what, "map of %lld string keys", (long long)map_n);
    ok &= check(what, map, expect_map(map_n));

    printf("what the collector did:\n");
    printf("  collections                 %llu (every live object moved each time)\n",
           (unsigned long long)st.collections);
    printf("  frames walked (with record) %llu (%.1f per collection)\n",
           (unsigned long long)st.frames,
           st.collections ? (double)st.frames / (double)st.collections : 0.0);
    printf("  of which from walk caches   %llu (unchanged since the thread's last walk: "
           "re-checked, not stepped)\n",
           (unsigned long long)st.cached_frames);
    printf("  roots relocated             %llu (%.1f per collection)\n",
           (unsigned long long)st.roots,
           st.collections ? (double)st.roots / (double)st.collections : 0.0);
    printf("  bytes copied                %llu\n", (unsigned long long)st.copied_bytes);
    printf("  phases, over all collections (each timed as one interval, no clock per object):\n");
    printf("    stopping the world        %.3f ms\n", (double)st.stw_ns * 1e-6);
    printf("    root phase                %.3f ms, %.0f ns per frame with a record, %.0f ns per "
           "collection\n",
           (double)st.root_ns * 1e-6, st.frames ? (double)st.root_ns / (double)st.frames : 0.0,
           st.collections ? (double)st.root_ns / (double)st.collections : 0.0);
    printf("      (walking every stack and forwarding its roots, no object bytes copied; a walk\n"
           "       also steps the host's native frames below the managed ones, main and libc's\n"
           "       start frames, by their CFI rules; the cost of each kind of frame is in\n"
           "       docs/PERFORMANCE.md)\n");
    printf("    copying                   %.3f ms (the roots' objects, then the Cheney scan)\n",
           (double)st.copy_ns * 1e-6);
    printf("    total                     %.3f ms (also: image rescans, poisoning the old space)\n",
           (double)st.total_ns * 1e-6);
    printf("  managed program total       %.3f s\n", elapsed);
#ifdef GCWALK_DEMO_JIT
    gcwalk_demo_jit_report();
#endif
    printf("result: %s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
