#!/bin/sh
# run.sh BUILD: every benchmark of experiments/bench/README.md in one command (`make bench`).
# Runs each BUILD/bench/bench_* binary with its defaults, then the extra rows of issue 15's table:
# bench_ops in bf16, the per-op profile (profile.sh) and the wall time by parallel region
# (regions.sh) in fp32 and bf16. Each output goes to
# experiments/bench/results-NAME.txt (bench_ops -> results-ops.txt) with the date and the load
# average before and after; at the end summary.sh collects the table's figures from them into
# results-summary.md (the lines to copy into README.md, each with the command that made it).
# The machine's load matters (README.md, "Measuring on this machine"): look at the load lines.
build=${1:-build}
dir=$(dirname "$0")
status=0
# run NAME CMD...: CMD's output into results-NAME.txt, between two load lines.
run() {
  name=$1; shift
  out="$dir/results-$name.txt"
  echo "== $*"
  # (a brace group, not a subshell: rc set inside is seen after it)
  {
    echo "# $* on $(hostname), $(date -u +%Y-%m-%dT%H:%MZ), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$@"
    rc=$?
    echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
  } > "$out.tmp" 2>&1
  cat "$out.tmp"
  mv "$out.tmp" "$out"
  [ $rc -eq 0 ] || { echo "FAIL $*: exit status $rc"; status=1; }
}
for b in "$build"/bench/bench_*; do
  [ -x "$b" ] || continue
  case $b in *.d|*.o) continue ;; esac
  name=$(basename "$b"); name=${name#bench_}
  run "$name" "$b"
done
if [ -x "$build/bench/bench_ops" ]; then
  run ops-bf16 "$build/bench/bench_ops" 2 64 0.25 cl wall bf16
  run ops-1thread-cpu "$build/bench/bench_ops" 1 64 0.3 cl cpu
  run ops-1thread-cpu-bf16 "$build/bench/bench_ops" 1 64 0.3 cl cpu bf16
fi
if command -v perf >/dev/null; then
  run profile-fp32 "$dir/profile.sh" "$build" 8 fp32
  run profile-bf16 "$dir/profile.sh" "$build" 8 bf16
fi
if command -v addr2line >/dev/null && command -v nm >/dev/null; then
  run regions-fp32 "$dir/regions.sh" "$build" 8 fp32
  run regions-bf16 "$dir/regions.sh" "$build" 8 bf16
fi
"$dir/summary.sh" "$dir" > "$dir/results-summary.md" && cat "$dir/results-summary.md"
exit $status
