#!/bin/sh
# test_cli_train.sh: `repae train` where a first user tripped: a missing dataset is refused
# before a run is created; a model too large for memory ends as a failed run with the reason
# (not "interrupted", which invites a resume that fails the same way); the first progress
# line shows no "nan it/s".
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
CONFIGS=$(cd "$(dirname "$0")/../configs" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; [ -f "$tmp/err" ] && sed 's/^/    | /' "$tmp/err"; }
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }
R() { "$BIN" --db "$tmp/runs.db" "$@" 2>"$tmp/err"; }

R train "$CONFIGS/fm32-small.json" --set data.path="$tmp/nowhere"
[ $? -eq 2 ] && grep -q "nowhere" "$tmp/err" && grep -q "fm32-small.json" "$tmp/err" && ! grep -q "repae: run " "$tmp/err"
check missing_dataset_refused_before_run $? "expected exit 2 naming the config and the path"
n=$("$BIN" --db "$tmp/runs.db" runs --json 2>/dev/null | grep -c '"id"')
[ "$n" = 0 ]
check missing_dataset_leaves_no_run $? "$n runs in the store"

# 65536 tiny images per batch want ~35 GB: over an 8 GB address-space limit at once.
# Under AddressSanitizer an address-space limit stops the binary from starting (its shadow
# memory), so there the same failure comes from ASan's per-allocation cap instead.
if ldd "$BIN" 2>/dev/null | grep -q libasan; then
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}max_allocation_size_mb=8000:allocator_may_return_null=1" \
  REPAE_MEM_CHECK=0 "$BIN" --db "$tmp/runs.db" train "$CONFIGS/tiny.json" --name huge --set train.batch_size=65536 \
      --set train.steps=2 --set train.threads=1 2>"$tmp/err"
else
  (ulimit -v 8000000 2>/dev/null || exit 0
   REPAE_MEM_CHECK=0 "$BIN" --db "$tmp/runs.db" train "$CONFIGS/tiny.json" --name huge --set train.batch_size=65536 \
       --set train.steps=2 --set train.threads=1 2>"$tmp/err") 2>/dev/null
fi
"$BIN" --db "$tmp/runs.db" show huge >"$tmp/show" 2>&1
grep -q "^status  *failed" "$tmp/show" && grep -q "^error .*out of memory" "$tmp/show"
check out_of_memory_is_failed_run $? "$(head -3 "$tmp/show")"

R train "$CONFIGS/tiny.json" --name p --set train.steps=20 --set train.threads=1 --set train.sample_every=0
grep -q "step 10/20" "$tmp/err" && ! grep -q "nan it/s" "$tmp/err"
check progress_without_nan_rate $? "a progress line reads nan it/s"

# --db is a global option anywhere on the line, but not when it is the value of an option.
"$BIN" train "$CONFIGS/tiny.json" --name --db "$tmp/other.db" 2>"$tmp/err"
[ $? -eq 2 ] && [ ! -e "$tmp/other.db" ] && grep -q "more than one CONFIG" "$tmp/err"
check db_not_taken_as_option_value $? "--name --db X created or used X as the store"
"$BIN" runs --db "$tmp/runs.db" >/dev/null 2>"$tmp/err"
check db_after_command $? "repae runs --db PATH failed"
