/* Host of derived.ll: real derived pointers (interior, one past the end, before the object). */
#include "e2e.h"

#include <stdlib.h>

int64_t e2e_derived(int64_t rounds);

int main(int argc, char** argv) {
    int64_t rounds = argc > 1 ? atoll(argv[1]) : 20;
    int64_t squares = 0;
    for (int64_t k = 1; k <= 16; ++k) squares += k * k;
    int ok = e2e_check("derived pointers", e2e_derived(rounds), rounds * (42 * 100000 + squares));
    return e2e_finish(ok);
}
