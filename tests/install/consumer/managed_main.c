/* Host of the installed-runtime check: runs the managed list under a collection at every
 * allocation and checks the answer. */
#include <gcwalk/runtime.h>
#include <stdint.h>
#include <stdio.h>

int64_t managed_list_sum(int64_t n);

int main(void) {
    int64_t n = 1000, got = managed_list_sum(n), want = n * (n - 1) / 2;
    struct gcwalk_rt_stats st;
    gcwalk_rt_get_stats(&st);
    printf("managed: sum=%lld (want %lld), collections=%llu\n", (long long)got, (long long)want,
           (unsigned long long)st.collections);
    return got == want && st.collections >= 1000 ? 0 : 1;
}
