#!/usr/bin/env python3
"""BM_Placement in two builds of bench_walk: the spread over stack placements, and over a rebuild.

bench_walk_b is the same source as bench_walk with its code laid out otherwise
(benchmarks/CMakeLists.txt). For each path and ring this runs BM_Placement in one build and then
the other (so that the two are timed minutes apart at most) and prints, per build, the fastest and
slowest ns per frame over the 256 placements and the spread (slowest / fastest - 1), the spread
over both builds together, and the placements more than 15 % above their build's fastest with
how many of those had a slow canary, and the spread over the placements whose canary was not
slow (bench_walk.cpp, "Placement"):

    benchmarks/placement.py build-bench/benchmarks
"""
import re
import subprocess
import sys

KINDS = [(0, "fast"), (11, "day_one"), (12, "relocate"), (13, "c_batch")]


def run(binary, kind, fp):
    out = subprocess.run([binary, f"--benchmark_filter=BM_Placement/kind:{kind}/fp:{fp}/"],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("BM_Placement"):
            return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", line)}
    raise SystemExit(f"{binary}: no BM_Placement/kind:{kind}/fp:{fp} line")


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "build-bench/benchmarks"
    print("| path | ring | build a ns/frame | a spread | build b ns/frame | b spread "
          "| both builds | slow placements (canary slow too), a / b "
          "| spread with the canary steady, a / b (placements) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for fp in (1, 0):
        for kind, name in KINDS:
            a = run(f"{d}/bench_walk", kind, fp)
            b = run(f"{d}/bench_walk_b", kind, fp)
            lo = min(a["min_ns_per_frame"], b["min_ns_per_frame"])
            hi = max(a["max_ns_per_frame"], b["max_ns_per_frame"])
            ring = "fp" if fp else "no fp"
            print(f"| {name} | {ring} "
                  f"| {a['min_ns_per_frame']:.2f}–{a['max_ns_per_frame']:.2f} | {a['spread']:.2f} "
                  f"| {b['min_ns_per_frame']:.2f}–{b['max_ns_per_frame']:.2f} | {b['spread']:.2f} "
                  f"| {hi / lo - 1:.2f} "
                  f"| {a['slow_cells']:.0f} ({a['slow_cells_canary_slow']:.0f}) / "
                  f"{b['slow_cells']:.0f} ({b['slow_cells_canary_slow']:.0f}) "
                  f"| {a['spread_canary_steady']:.2f} ({a['canary_steady_cells']:.0f}) / "
                  f"{b['spread_canary_steady']:.2f} ({b['canary_steady_cells']:.0f}) |", flush=True)


if __name__ == "__main__":
    main()
