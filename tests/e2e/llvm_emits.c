/* Host of llvm_emits.ll: values of every shape LLVM emits on purpose, live across moving
 * collections (see llvm_emits.ll). */
#include "e2e.h"

#include <stdlib.h>

int64_t e2e_llvm_emits(int64_t rounds, int64_t* buf);

static int64_t buf[1024];

int main(int argc, char** argv) {
    int64_t rounds = argc > 1 ? atoll(argv[1]) : 10;
    for (int64_t k = 0; k < 1024; ++k) buf[k] = 3 * k;
    /* per round: 1 + ... + 256, 1000, 2000, 3000 + buf[1000] */
    int64_t expected = rounds * (256 * 257 / 2 + 1000 + 2000 + 3000 + buf[1000]);
    int ok = e2e_check("values of every shape LLVM emits", e2e_llvm_emits(rounds, buf), expected);
    return e2e_finish(ok);
}
