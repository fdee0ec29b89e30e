// The managed functions of index_functions.ll that the index tests link in, and the native
// callees they call (defined here: each test executable includes this once).
#pragma once

#include <cstdint>

extern "C" {
int64_t idx_two_roots(void*, void*);
int64_t idx_no_roots(int64_t);
void* idx_make_pair();
void gcwalk_test_callee() {}
void* gcwalk_test_make() {
    return nullptr;
}
}
