/* Host of callback.ll: managed -> C -> managed -> ... with roots in every managed frame. */
#include "e2e.h"

#include <stdlib.h>

int64_t managed_level(int64_t d);

/* A native frame with its own state on the stack and in callee-saved registers. */
__attribute__((noinline)) int64_t native_level(int64_t d) {
    volatile int64_t local[4] = {d, d + 1, d + 2, d + 3};
    int64_t r = managed_level(d);
    return r + local[0] + local[3] - local[1] - local[2] + 1; /* r + 1 */
}

int main(int argc, char** argv) {
    int64_t depth = argc > 1 ? atoll(argv[1]) : 40;
    int64_t expected = 0;
    for (int64_t d = 0; d <= depth; ++d) expected += 5 * d;
    expected += depth; /* one native frame per level below the top adds 1 */
    int ok = e2e_check("native frames between managed frames", managed_level(depth), expected);
    return e2e_finish(ok);
}
