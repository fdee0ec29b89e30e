/* Host of csr_roots.ll: GC roots held in callee-saved registers. */
#include "e2e.h"

#include <stdlib.h>

int64_t e2e_csr(int64_t rounds);

int main(int argc, char** argv) {
    int64_t rounds = argc > 1 ? atoll(argv[1]) : 20;
    int64_t expected = 0;
    for (int64_t i = 0; i < rounds; ++i) {
        int64_t r1 = 2 * i + 16, r2 = 2 * r1 + 16;
        expected += r2 + 300;
    }
    int ok = e2e_check("roots in callee-saved registers", e2e_csr(rounds), expected);
    return e2e_finish(ok);
}
