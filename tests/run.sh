#!/bin/sh
# run.sh BUILD: runs every test binary in BUILD/tests and every tests/test_*.sh, then prints
# one line "N passed, N failed". A binary that crashes counts as one more failure.
build=${1:-build}
# Passive OpenMP waits: spinning threads crawl when the cores are shared (see src/cli/main.c).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
pass=0 fail=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in "$build"/tests/test_* tests/test_*.sh; do
  [ -x "$t" ] || continue
  case $t in *.d|*.o) continue ;; esac
  echo "== $t"
  BUILD="$build" "$t" > "$out" 2>&1
  rc=$?
  cat "$out"
  p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out")
  pass=$((pass + p)); fail=$((fail + f))
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $t: exited with status $rc"
    fail=$((fail + 1))
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
