/* Host of dynamic_frames.ll: dynamic alloca and over-aligned frames holding roots. */
#include "e2e.h"

#include <stdlib.h>

int64_t e2e_dynamic_frames(int64_t rounds);

int main(int argc, char** argv) {
    int64_t rounds = argc > 1 ? atoll(argv[1]) : 40;
    int64_t expected = 0;
    for (int64_t i = 0; i < rounds; ++i) {
        int64_t n = i + 3;
        expected += n * (n - 1) / 2 + i + 1001; /* dynamic_alloca */
        expected += 3 * i + 327;                /* over_aligned */
    }
    int ok = e2e_check("dynamic and realigned frames", e2e_dynamic_frames(rounds), expected);
    return e2e_finish(ok);
}
