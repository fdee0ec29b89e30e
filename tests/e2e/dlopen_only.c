/* A program that does not link the runtime at all dlopens a managed shared library (argv[1]); the
 * library brings libgcwalk-runtime.so in, whose constructor starts the runtime at dlopen time. */
#include "answers.h"

#include <gcwalk/runtime.h>

#include <dlfcn.h>
#include <stdio.h>

typedef int64_t (*entry_fn)(int64_t);
typedef void (*stats_fn)(struct gcwalk_rt_stats*);

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "FAILED: dlopen: %s\n", dlerror());
        return 1;
    }
    entry_fn lists = (entry_fn)dlsym(lib, "e2e_lists");
    entry_fn trees = (entry_fn)dlsym(lib, "e2e_trees");
    stats_fn stats =
        (stats_fn)dlsym(lib, "gcwalk_rt_get_stats"); /* found through the library's dependency */
    if (!lists || !trees || !stats) {
        fprintf(stderr, "FAILED: dlsym\n");
        return 1;
    }
    int ok = lists(120) == expect_lists(120) && trees(5) == expect_trees(5);
    struct gcwalk_rt_stats st;
    stats(&st);
    printf("%s: collections=%llu roots=%llu\n", ok ? "ok" : "FAILED",
           (unsigned long long)st.collections, (unsigned long long)st.roots);
    return ok && st.collections > 0 && st.roots > 0 ? 0 : 1;
}
