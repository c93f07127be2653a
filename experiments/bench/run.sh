#!/bin/sh
# run.sh BUILD: runs every BUILD/bench/bench_* binary. bench_X's output also goes to
# experiments/bench/results-X.txt (bench_ops -> results-ops.txt), so the latest numbers can be
# compared with the table in experiments/bench/README.md.
build=${1:-build}
dir=$(dirname "$0")
status=0
for b in "$build"/bench/bench_*; do
  [ -x "$b" ] || continue
  case $b in *.d|*.o) continue ;; esac
  name=$(basename "$b"); name=${name#bench_}
  echo "== $b"
  out="$dir/results-$name.txt"
  echo "# $b on $(hostname), $(date -u +%Y-%m-%dT%H:%MZ), load before: $(cut -d' ' -f1-3 /proc/loadavg)" > "$out.tmp"
  "$b" >> "$out.tmp"
  rc=$?
  cat "$out.tmp"
  mv "$out.tmp" "$out"
  [ $rc -eq 0 ] || { echo "FAIL $b: exit status $rc"; status=1; }
done
exit $status
