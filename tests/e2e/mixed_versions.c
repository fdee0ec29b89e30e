/* Host of objects compiled by several LLVM versions (14, 19 and 22 by default), linked into one
 * program: two_objects_a.ll and two_objects_b.ll by the first two (their functions call each other,
 * so frames of both versions alternate on the stack), lists.ll by the last. The section holds one
 * blob per object, each from its own LLVM. */
#include "answers.h"
#include "e2e.h"

#include <stdlib.h>

int64_t e2e_two_objects(int64_t n);
int64_t e2e_lists(int64_t n);

int main(int argc, char** argv) {
    int64_t n = argc > 1 ? atoll(argv[1]) : 60;
    int ok = e2e_check("frames of two LLVM versions interleaved", e2e_two_objects(n),
                       expect_ping(n, 0, 0));
    ok &= e2e_check("lists from a third LLVM version", e2e_lists(5 * n), expect_lists(5 * n));
    return e2e_finish(ok);
}
