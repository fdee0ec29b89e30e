#!/usr/bin/env python3
"""Instructions per managed frame of each walk path, counted by callgrind (valgrind).

Counts do not move with the host's speed, unlike the times bench_walk reports on a shared guest,
so they show what a change to the step did. Runs the day_one row of one ring (which walks with
every path in one process) under callgrind and divides each path's inclusive instruction count
(exclusive for day_one_walk, whose first call builds its table) by its calls and the frames:

    benchmarks/instructions_per_frame.py build-bench/benchmarks/bench_walk 1 1000 2
        (frame pointers 1 or 0, depth, roots per frame 0 / 2 / 8 / -1 for the mixed ring)
"""
import collections
import os
import re
import subprocess
import sys
import tempfile

PATHS = [  # (label, function name part, inclusive?)
    ("for_each_root", "walk_roots<false>", True),
    ("relocate_roots", "relocate_walk(", True),
    ("relocate_forward", "relocate_forward_walk(", True),
    ("relocate_roots, move inlined", "relocate_inline_walk(", True),
    ("gcwalk_visit_frames", "gcwalk_visit_frames", True),
    ("gcwalk_visit_roots", "gcwalk_visit_roots", True),
    ("day_one", "day_one_walk", False),
    ("frame_pointer", "frame_pointer_walk", True),
]


def main():
    bench, fp, depth, roots = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    frames = depth + 1
    out = os.path.join(tempfile.mkdtemp(), "callgrind.out")
    filt = f"BM_Walk/kind:11/fp:{fp}/depth:{depth}/roots:{roots}$"
    subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, bench,
                    "--benchmark_filter=" + filt, "--benchmark_min_time=0.01"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    names, calls = {}, collections.Counter()
    incl, excl = collections.Counter(), collections.Counter()

    def name(tok):
        m = re.match(r"\((\d+)\)(?: (.*))?", tok)
        if not m:
            return tok
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), m.group(1))

    fn = callee = None
    lines = open(out).read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("fn="):
            fn = name(line[3:])
        elif line.startswith("cfn="):
            callee = name(line[4:])
        elif line.startswith("calls="):
            calls[callee] += int(line[6:].split()[0])
            incl[callee] += int(lines[i + 1].split()[1])
            i += 1
        elif line and (line[0].isdigit() or line[0] in "+-*") and fn:
            excl[fn] += int(line.split()[-1])
        i += 1
    print(f"ring fp:{fp} depth:{depth} roots:{roots}, instructions per frame")
    for label, part, inclusive in PATHS:
        for n in calls:
            if part in n and "cold" not in n and calls[n]:
                cost = incl[n] if inclusive else excl[n]
                print(f"  {label:20s} {cost / calls[n] / frames:7.1f}")


if __name__ == "__main__":
    main()
