#!/bin/sh
# test_cpu.sh: a binary started on a CPU without an extension it was compiled for refuses with
# a message that says what to do, instead of dying with SIGILL (src/base/cpu.c). The missing
# extension is simulated with the REPAE_CPU_PRETEND_MISSING test hook. Every build (default,
# asan, tsan) targets at least x86-64-v3, so AVX2 is always one the binary needs.
BUILD=${BUILD:-build}
BIN=$BUILD/repae
tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
if "$BIN" --help > /dev/null 2>&1; then echo "PASS runs_on_this_cpu"; else echo "FAIL runs_on_this_cpu: $BIN --help failed"; fi
REPAE_CPU_PRETEND_MISSING=avx2 "$BIN" --help > "$tmp.out" 2> "$tmp"
rc=$?
if [ "$rc" = 1 ] && grep -q "lacks avx2" "$tmp" && grep -q "rebuild it on this machine" "$tmp" && [ ! -s "$tmp.out" ]; then
  echo "PASS refuses_missing_extension_before_main"
else echo "FAIL refuses_missing_extension_before_main: exit $rc, stderr: $(cat "$tmp"), stdout: $(head -c 200 "$tmp.out")"; fi
rm -f "$tmp.out"
