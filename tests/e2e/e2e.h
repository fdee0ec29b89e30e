/* Shared by the end-to-end test hosts: a result check that prints both values. */
#ifndef GCWALK_E2E_H
#define GCWALK_E2E_H

#include <gcwalk/runtime.h>

#include <stdint.h>
#include <stdio.h>

/* Prints and returns whether got == expected. */
static inline int e2e_check(const char* what, int64_t got, int64_t expected) {
    int ok = got == expected;
    fprintf(ok ? stdout : stderr, "%s: %s: got %lld, expected %lld\n", ok ? "ok" : "FAILED", what,
            (long long)got, (long long)expected);
    return ok;
}

/* The exit status of a test host, with the collector's totals (a test that never collected tests
 * nothing: under GCWALK_STRESS=1 that is a failure). */
static inline int e2e_finish(int ok) {
    struct gcwalk_rt_stats st;
    gcwalk_rt_get_stats(&st);
    printf("collections=%llu frames=%llu roots=%llu\n", (unsigned long long)st.collections,
           (unsigned long long)st.frames, (unsigned long long)st.roots);
    if (st.collections == 0 || st.roots == 0) {
        fprintf(stderr, "FAILED: no collection relocated any root\n");
        ok = 0;
    }
    return ok ? 0 : 1;
}

#endif
