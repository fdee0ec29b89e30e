/* Host of trees.ll: checks the tree and its mirror against the C recomputation. */
#include "answers.h"
#include "e2e.h"

#include <stdlib.h>

int64_t e2e_trees(int64_t depth);

int main(int argc, char** argv) {
    int64_t depth = argc > 1 ? atoll(argv[1]) : 7;
    int ok = e2e_check("trees", e2e_trees(depth), expect_trees(depth));
    return e2e_finish(ok);
}
