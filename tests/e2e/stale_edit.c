/* The edit that makes program B of the stale-table tests another build of program A (tests/e2e/
   CMakeLists.txt): one more function in its code, whatever the build type's flags. */
int e2e_stale_edit(int x);
int e2e_stale_edit(int x) {
    return x * 3 + 1;
}
