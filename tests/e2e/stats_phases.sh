#!/bin/sh
# Runs a command under GCWALK_STATS=1 and checks its stats line: the documented keys in their
# order, the phase keys after them, and phases that are disjoint parts of the total
# (stw_ns + root_ns + copy_ns <= total_ns), with walk_ns = root_ns.
#   stats_phases.sh <command> [args...]
err=$(mktemp)
GCWALK_STATS=1 "$@" 2>"$err"
rc=$?
cat "$err" >&2
line=$(grep '^gcwalk-rt: collections=' "$err")
rm -f "$err"
if [ $rc -ne 0 ]; then
  echo "stats_phases.sh: expected success, got exit status $rc" >&2
  exit 1
fi
keys='collections frames roots walk_ns cached_frames stw_ns root_ns copy_ns total_ns'
echo "$line" | awk -v keys="$keys" '
{
  n = split(keys, want, " ")
  if (NF != n + 1) { print "stats_phases.sh: " NF - 1 " keys, expected " n > "/dev/stderr"; exit 1 }
  for (i = 1; i <= n; ++i) {
    split($(i + 1), kv, "=")
    if (kv[1] != want[i] || kv[2] !~ /^[0-9]+$/) {
      print "stats_phases.sh: key " i " is \"" $(i + 1) "\", expected " want[i] "=<n>" > "/dev/stderr"
      exit 1
    }
    v[kv[1]] = kv[2] + 0
  }
  bad = ""
  if (v["collections"] == 0) bad = bad " no collection;"
  if (v["total_ns"] == 0) bad = bad " total_ns is 0;"
  if (v["root_ns"] == 0) bad = bad " root_ns is 0;"
  if (v["copy_ns"] == 0) bad = bad " copy_ns is 0;"
  if (v["walk_ns"] != v["root_ns"]) bad = bad " walk_ns != root_ns;"
  if (v["root_ns"] > v["total_ns"]) bad = bad " root_ns > total_ns;"
  if (v["stw_ns"] + v["root_ns"] + v["copy_ns"] > v["total_ns"])
    bad = bad " stw_ns + root_ns + copy_ns > total_ns;"
  if (bad != "") { print "stats_phases.sh:" bad " in: " $0 > "/dev/stderr"; exit 1 }
  print "stats_phases.sh: keys in order, phases within total_ns"
}
END { if (NR == 0) { print "stats_phases.sh: no stats line" > "/dev/stderr"; exit 1 } }'
