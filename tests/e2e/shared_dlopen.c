/* Managed code in a shared library loaded with dlopen after start (argv[1]: its path): the next
 * collection finds its stack maps. */
#include "answers.h"
#include "e2e.h"

#include <dlfcn.h>

typedef int64_t (*entry_fn)(int64_t);

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    gcwalk_rt_collect(); /* a first collection, before the library exists */
    void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "FAILED: dlopen: %s\n", dlerror());
        return 1;
    }
    entry_fn lists = (entry_fn)dlsym(lib, "e2e_lists");
    entry_fn trees = (entry_fn)dlsym(lib, "e2e_trees");
    if (!lists || !trees) return 1;
    int ok = e2e_check("lists from a dlopen'ed library", lists(150), expect_lists(150));
    ok &= e2e_check("trees from a dlopen'ed library", trees(6), expect_trees(6));
    return e2e_finish(ok);
}
