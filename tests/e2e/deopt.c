/* Host of deopt.ll: deopt bundles with GC pointers, null and large constants. */
#include "e2e.h"

#include <stdlib.h>

int64_t e2e_deopt(int64_t rounds);

int main(int argc, char** argv) {
    int64_t rounds = argc > 1 ? atoll(argv[1]) : 50;
    int64_t expected = 0;
    for (int64_t i = 0; i < rounds; ++i) expected += 2 * i + 10;
    int ok = e2e_check("deopt bundles", e2e_deopt(rounds), expected);
    return e2e_finish(ok);
}
