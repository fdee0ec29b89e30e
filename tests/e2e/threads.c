/* Several threads run lists.ll and trees.ll at once: every collection (one per allocation under
 * GCWALK_STRESS=1, counted over all threads) stops and walks all of them. One thread attaches
 * explicitly and detaches; the others are attached by their first call and detached at exit. */
#include "answers.h"
#include "e2e.h"

#include <pthread.h>
#include <stdlib.h>

int64_t e2e_lists(int64_t n);
int64_t e2e_trees(int64_t depth);

enum { kThreads = 4, kRounds = 3 };

static void* worker(void* arg) {
    intptr_t id = (intptr_t)arg;
    if (id == 0) gcwalk_rt_attach_thread();
    intptr_t ok = 1;
    for (int r = 0; r < kRounds; ++r) {
        int64_t n = 40 + 10 * id + r, depth = 3 + (id + r) % 3;
        ok &= e2e_lists(n) == expect_lists(n);
        ok &= e2e_trees(depth) == expect_trees(depth);
    }
    if (id == 0) gcwalk_rt_detach_thread();
    return (void*)ok;
}

int main(void) {
    pthread_t threads[kThreads];
    for (intptr_t i = 0; i < kThreads; ++i)
        if (pthread_create(&threads[i], NULL, worker, (void*)i) != 0) return 2;
    int ok = 1;
    for (int i = 0; i < kThreads; ++i) {
        void* result;
        pthread_join(threads[i], &result);
        ok &= e2e_check("thread answers", (int64_t)(intptr_t)result, 1);
    }
    return e2e_finish(ok);
}
