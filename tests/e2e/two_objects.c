/* Host of two_objects_a.ll + two_objects_b.ll: mutual recursion across two managed objects. */
#include "e2e.h"

#include <stdlib.h>

int64_t e2e_two_objects(int64_t n);

/* ping(n, prev_value or none) and pong(n, prev_value) as in the IR, without a heap. */
static int64_t pong_c(int64_t n, int64_t prev);
static int64_t ping_c(int64_t n, int64_t prev, int has_prev) {
    int64_t below = n == 0 ? 0 : pong_c(n - 1, n);
    return below + 2 * n + (has_prev ? prev : 0);
}
static int64_t pong_c(int64_t n, int64_t prev) { return ping_c(n, n, 1) + 3 * n + prev; }

int main(int argc, char** argv) {
    int64_t n = argc > 1 ? atoll(argv[1]) : 60;
    int ok = e2e_check("two managed objects", e2e_two_objects(n), ping_c(n, 0, 0));
    return e2e_finish(ok);
}
