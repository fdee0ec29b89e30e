#!/bin/sh
# Runs every benchmark of a build directory (default build-bench) and keeps the console output
# beside it: the figures in docs/PERFORMANCE.md come from this command.
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build-bench -j2
#   benchmarks/run.sh build-bench
set -e
build=${1:-build-bench}
out=${2:-$build/benchmark-results}
mkdir -p "$out"
for b in bench_index bench_parse bench_walk bench_stw bench_boehm; do
    "$build/benchmarks/$b" --benchmark_min_time=0.1 | tee "$out/$b.txt"
done
# bench_jit exists when the JIT glue is built (GCWALK_WITH_LLVM and GCWALK_WITH_JIT).
# bench_startup exists when gcwalk-pack is built; its 100,000- and 1,000,000-call-site images only
# when built on request (cmake --build BUILD --target gcwalk_gen_100000 gcwalk_gen_1000000).
if [ -x "$build/benchmarks/startup/bench_startup" ]; then
    "$build/benchmarks/startup/bench_startup" --benchmark_min_time=1 | tee "$out/bench_startup.txt"
fi
if [ -x "$build/benchmarks/bench_jit" ]; then
    "$build/benchmarks/bench_jit" --benchmark_min_time=0.1 | tee "$out/bench_jit.txt"
fi
