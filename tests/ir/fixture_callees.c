/* The functions the managed IR fixtures call: trivial, they never collect. Linked into both the
   fixture executable and the fixture shared object, so each loads on its own. */
void fx_call(void) {}
void fx_use(void* p) {
    (void)p;
}
void* fx_new(void) {
    return 0;
}
void fx_sink(char* p) {
    (void)p;
}
void fx_take10(long a, long b, long c, long d, long e, long f, long g, long h, long i, long j) {
    (void)(a + b + c + d + e + f + g + h + i + j);
}
void fx_use_int(long v) {
    (void)v;
}
/* Takes a <256 x ptr> by value in managed code; never called with one here. */
void fx_use_vec(void) {}
