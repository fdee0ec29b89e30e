#!/bin/sh
# Runs a command that must succeed ("ok") or fail ("fail": a non-zero exit or a signal), and whose
# standard error must match an extended regular expression ('' for any).
#   expect.sh ok|fail <regex> <command> [args...]
mode=$1
pattern=$2
shift 2
err=$(mktemp)
"$@" 2>"$err"
rc=$?
cat "$err" >&2
status=0
if [ "$mode" = ok ] && [ $rc -ne 0 ]; then
  echo "expect.sh: expected success, got exit status $rc" >&2
  status=1
elif [ "$mode" = fail ] && [ $rc -eq 0 ]; then
  echo "expect.sh: expected a failure, got exit status 0" >&2
  status=1
fi
if [ -n "$pattern" ] && ! grep -Eq "$pattern" "$err"; then
  echo "expect.sh: standard error does not match: $pattern" >&2
  status=1
fi
rm -f "$err"
[ $status -eq 0 ] && echo "expect.sh: as expected ($mode, exit status $rc)"
exit $status
