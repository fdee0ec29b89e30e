/* Managed code in a shared library the program links: libe2e_managed.so holds lists.ll and
 * trees.ll; its stack maps are found at start. */
#include "answers.h"
#include "e2e.h"

int64_t e2e_lists(int64_t n);
int64_t e2e_trees(int64_t depth);

int main(void) {
    int ok = e2e_check("lists from a shared library", e2e_lists(150), expect_lists(150));
    ok &= e2e_check("trees from a shared library", e2e_trees(6), expect_trees(6));
    return e2e_finish(ok);
}
