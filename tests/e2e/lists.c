/* Host of lists.ll (also linked -no-pie and with lld): runs it, checks the answer. */
#include "answers.h"
#include "e2e.h"

#include <stdlib.h>

int64_t e2e_lists(int64_t n);

int main(int argc, char** argv) {
    int64_t n = argc > 1 ? atoll(argv[1]) : 300;
    int ok = e2e_check("lists", e2e_lists(n), expect_lists(n));
    return e2e_finish(ok);
}
