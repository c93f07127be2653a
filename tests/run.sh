#!/bin/sh
# run.sh [BUILD [FILTER]]: runs every test binary in BUILD/tests (default build) and every
# tests/test_*.sh, then lists the tests that failed and prints, as its last line,
# "N passed, N failed". With FILTER only the tests whose name contains it run
# (`tests/run.sh build ops_` runs test_ops_*; `tests/run.sh build ui_shot` one script).
#
# A test that exits non-zero without a FAIL line (a crash, a sanitizer report) counts as one
# more failure. Each test gets TEST_TIMEOUT seconds (default 600, 0 = no limit): a hung one
# (a tmux session that never ends, a deadlock) is killed with its process group and counted
# as a failure under its own name, so CI never stalls on it.
build=${1:-build}
filter=${2:-}
limit=${TEST_TIMEOUT:-600}
# Passive OpenMP waits: spinning threads crawl when the cores are shared (see src/cli/main.c).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
pass=0 fail=0 failed=
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if [ "$limit" != 0 ] && ! command -v timeout >/dev/null; then
  echo "run.sh: no timeout(1) (coreutils): running without a per-test limit" >&2
  limit=0
fi
for t in "$build"/tests/test_* tests/test_*.sh; do
  [ -x "$t" ] || continue
  case $t in *.d|*.o) continue ;; esac
  name=$(basename "$t" .sh)
  case $name in *"$filter"*) ;; *) continue ;; esac
  echo "== $t"
  start=$(date +%s)
  if [ "$limit" = 0 ]; then
    BUILD="$build" "$t" > "$out" 2>&1
  else
    # timeout signals the whole process group of the test (its children too); -k: KILL
    # ten seconds later if TERM did not end it.
    BUILD="$build" timeout -k 10 "$limit" "$t" > "$out" 2>&1
  fi
  rc=$?
  cat "$out"
  p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out")
  pass=$((pass + p)); fail=$((fail + f))
  # The failed tests' names for the summary: the FAIL lines' names, or why the binary died.
  names=$(sed -n 's/^FAIL \([^:]*\).*/\1/p' "$out" | tr '\n' ' ' | sed 's/ $//')
  # 124: timeout's TERM ended it; 137 (KILL) counts as a timeout only when the time is up.
  if [ "$limit" != 0 ] && { [ $rc -eq 124 ] || { [ $rc -eq 137 ] && [ $(( $(date +%s) - start )) -ge "$limit" ]; }; }; then
    echo "FAIL $name: timed out after ${limit}s (TEST_TIMEOUT) and was killed"
    fail=$((fail + 1)) names="${names:+$names, }timed out after ${limit}s"
  elif [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $t: exited with status $rc"
    fail=$((fail + 1)) names="exited with status $rc"
  fi
  [ -n "$names" ] && failed="$failed  $name: $names
"
done
[ "$pass" -eq 0 ] && [ "$fail" -eq 0 ] && echo "run.sh: no test matched '${filter}' in $build/tests or tests/" >&2
if [ -n "$failed" ]; then
  echo "failed tests:"
  printf '%s' "$failed"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
