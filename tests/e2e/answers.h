/* The answers of lists.ll, trees.ll and two_objects_*.ll, computed in plain C without a heap
 * (shared by the hosts that run those programs: alone, from a shared library, from several
 * threads). */
#ifndef GCWALK_E2E_ANSWERS_H
#define GCWALK_E2E_ANSWERS_H

#include <stdint.h>

/* e2e_lists(n): list n..1; mapped and reversed: 3v+1 for v = 1..n; evens kept and reversed again
 * (v = n..1); then sum of position * value. */
static inline int64_t expect_lists(int64_t n) {
    uint64_t acc = 0, pos = 1;
    for (int64_t v = n; v >= 1; --v) {
        uint64_t m = 3 * (uint64_t)v + 1;
        if (m % 2 == 0) acc += m * pos++;
    }
    return (int64_t)acc;
}

/* ping(n, prev_value or none) and pong(n, prev_value) of two_objects_a.ll and two_objects_b.ll. */
static inline int64_t expect_pong(int64_t n, int64_t prev);
static inline int64_t expect_ping(int64_t n, int64_t prev, int has_prev) {
    int64_t below = n == 0 ? 0 : expect_pong(n - 1, n);
    return below + 2 * n + (has_prev ? prev : 0);
}
static inline int64_t expect_pong(int64_t n, int64_t prev) {
    return expect_ping(n, n, 1) + 3 * n + prev;
}

/* check() of the tree of depth d rooted at heap number v (depth -1: no node), or of its mirror. */
static inline uint64_t expect_tree_check(int64_t d, uint64_t v, int mirrored) {
    if (d < 0) return 0;
    uint64_t l = expect_tree_check(d - 1, mirrored ? 2 * v + 1 : 2 * v, mirrored);
    uint64_t r = expect_tree_check(d - 1, mirrored ? 2 * v : 2 * v + 1, mirrored);
    return v + 3 * l - r;
}

/* e2e_trees(depth): check(tree) * 1000003 + check(mirror(tree)). */
static inline int64_t expect_trees(int64_t depth) {
    return (int64_t)(expect_tree_check(depth, 1, 0) * 1000003 + expect_tree_check(depth, 1, 1));
}

#endif
