/* The C main of the fixture executable: prints nothing and returns 0; it references a managed
   function so the executable really calls into managed code when asked to (argc > 100). */
long sp_deopt(void* a, void* b, long n, double d);

int main(int argc, char** argv) {
    (void)argv;
    return argc > 100 ? (int)sp_deopt(0, 0, 1, 1.0) : 0;
}
