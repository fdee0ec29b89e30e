/* Host of stack_args.ll: ten GC pointer arguments, four of them on the stack. */
#include "e2e.h"

#include <stdlib.h>

int64_t e2e_stack_args(int64_t rounds);

int main(int argc, char** argv) {
    int64_t rounds = argc > 1 ? atoll(argv[1]) : 20;
    int64_t expected = 0;
    for (int64_t i = 0; i < rounds; ++i) {
        int64_t seed = 10 * i, r = 3000;
        for (int64_t k = 0; k < 10; ++k) r += (k + 1) * (seed + k);
        expected += r + seed + (seed + 9);
    }
    int ok = e2e_check("stack arguments", e2e_stack_args(rounds), expected);
    return e2e_finish(ok);
}
