/* Host of two_objects_a.ll + two_objects_b.ll: mutual recursion across two managed objects. */
#include "answers.h"
#include "e2e.h"

#include <stdlib.h>

int64_t e2e_two_objects(int64_t n);

int main(int argc, char** argv) {
    int64_t n = argc > 1 ? atoll(argv[1]) : 60;
    int ok = e2e_check("two managed objects", e2e_two_objects(n), expect_ping(n, 0, 0));
    return e2e_finish(ok);
}
