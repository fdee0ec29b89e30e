/* The callees of the generated start-up images (gen_call_sites.py): never run, only linked. */
__attribute__((noinline)) void gen_callee(void* p) {
    __asm__ volatile("" ::"r"(p) : "memory");
}
__attribute__((noinline)) void gen_use(void* a, void* b, void* c, void* d) {
    __asm__ volatile("" ::"r"(a), "r"(b), "r"(c), "r"(d) : "memory");
}
