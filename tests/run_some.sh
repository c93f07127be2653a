#!/bin/sh
# run_some.sh BUILD TEST...: runs the named test binaries of BUILD/tests (make tsan) and prints
# one line "N passed, N failed". A binary that exits non-zero without a FAIL line (a sanitizer
# report, a crash) counts as one more failure.
build=$1; shift
pass=0 fail=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in "$@"; do
  echo "== $t"
  BUILD="$build" "$build/tests/$t" > "$out" 2>&1
  rc=$?
  cat "$out"
  p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out")
  pass=$((pass + p)); fail=$((fail + f))
  if grep -q 'WARNING: ThreadSanitizer' "$out"; then echo "FAIL $t: ThreadSanitizer report above"; fail=$((fail + 1))
  elif [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then echo "FAIL $t: exited with status $rc"; fail=$((fail + 1)); fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
