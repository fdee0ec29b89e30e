/* Host of deep_recursion.ll: 10,000 managed frames holding roots. */
#include "e2e.h"

#include <stdlib.h>

int64_t e2e_deep(int64_t depth);

int main(int argc, char** argv) {
    int64_t depth = argc > 1 ? atoll(argv[1]) : 10000;
    int64_t expected = 5; /* the bottom's object */
    for (int64_t d = 1; d <= depth; ++d) expected += d % 16 + 100;
    int ok = e2e_check("deep recursion", e2e_deep(depth), expected);
    struct gcwalk_rt_stats st;
    gcwalk_rt_get_stats(&st);
    /* Three collections at the bottom, each walking every frame. */
    ok &= e2e_check("frames walked at least 3 x depth", st.frames >= (uint64_t)(3 * depth), 1);
    /* The phases are disjoint intervals of each collection, the root phase is the walk time. */
    ok &= e2e_check("walk_ns == root_ns", st.walk_ns == st.root_ns, 1);
    ok &= e2e_check("stw_ns + root_ns + copy_ns <= total_ns",
                    st.stw_ns + st.root_ns + st.copy_ns <= st.total_ns, 1);
    ok &= e2e_check("root and copy phases timed", st.root_ns > 0 && st.copy_ns > 0, 1);
    return e2e_finish(ok);
}
