#!/bin/sh
# test_cli_store.sh: what a first user broke in the run store, each case a PASS/FAIL line:
# two stores in one directory must not share run directories; a deleted run's id is never
# given again (so its number and its leftover files cannot pass to a new run); names that would read as ids or break the tables are
# refused; `repae rm --force` of a live run stops it before deleting; a store in a read-only
# directory can still be listed and says why it cannot be written.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
TINY=$(cd "$(dirname "$0")/../configs" && pwd)/tiny.json
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; [ -f "$tmp/err" ] && sed 's/^/    | /' "$tmp/err"; }
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }
QUICK="--set train.threads=1 --set train.sample_every=0 --set train.log_every=5"

# ---- two stores in one directory -----------------------------------------------------------------
"$BIN" --db "$tmp/a.db" train "$TINY" --name a $QUICK --set train.steps=10 2>"$tmp/err"
"$BIN" --db "$tmp/b.db" train "$TINY" --name b $QUICK --set train.steps=20 2>>"$tmp/err"
[ -d "$tmp/a.db-runs/1/ckpt/00000010" ] && [ -d "$tmp/b.db-runs/1/ckpt/00000020" ] && [ ! -e "$tmp/runs" ]
check stores_keep_their_own_run_dirs $? "$(ls -R "$tmp" | head -20)"
"$BIN" --db "$tmp/a.db" rm --yes a >/dev/null 2>"$tmp/err"
[ -d "$tmp/b.db-runs/1/ckpt/00000020" ]
check rm_in_one_store_spares_the_other $? "b's run 1 lost its files when a's run 1 was deleted"
"$BIN" --db "$tmp/runs.db" train "$TINY" --name d $QUICK --set train.steps=5 2>"$tmp/err"
[ -d "$tmp/runs/1/ckpt" ]
check default_store_keeps_runs_dir $? "runs.db's run not under runs/"

# ---- a deleted run's id is not given again ------------------------------------------------------
db=$tmp/reuse.db
"$BIN" --db "$db" train "$TINY" --name old $QUICK --set train.steps=10 2>"$tmp/err"
"$BIN" --db "$db" rm --yes old >/dev/null 2>&1
mkdir -p "$tmp/reuse.db-runs/1/ckpt/00000999" # as if the deleted run's writer had written on
"$BIN" --db "$db" train "$TINY" --name new $QUICK --set train.steps=10 2>"$tmp/err"
[ "$(ls "$tmp/reuse.db-runs/2/ckpt")" = 00000010 ] && ! "$BIN" --db "$db" show 1 >/dev/null 2>&1 &&
    "$BIN" --db "$db" show 2 2>/dev/null | grep -q new
check deleted_id_not_reused $? "$(ls -R "$tmp/reuse.db-runs" | head)"

# ---- names ------------------------------------------------------------------------------------------
for n in 12 "   " "$(printf 'a\tb')" "$(printf 'two\nlines')"; do
    if "$BIN" --db "$tmp/n.db" train "$TINY" --name "$n" $QUICK --set train.steps=1 2>"$tmp/err"; then
        fail "bad_name_refused" "name '$n' accepted"
    else pass "bad_name_refused"; fi
done
"$BIN" --db "$tmp/n.db" train "$TINY" --name 12 $QUICK --set train.steps=1 2>"$tmp/err"
grep -q "read as a run id" "$tmp/err"
check digit_name_says_why $? "no reason given"
"$BIN" --db "$tmp/n.db" train "$TINY" --name "r2 'q' ü" $QUICK --set train.steps=1 2>"$tmp/err"
check odd_but_fine_name_accepted $? "a name with spaces, quotes and unicode was refused"

# ---- rm --force of a live run --------------------------------------------------------------------
db=$tmp/live.db
"$BIN" --db "$db" train "$TINY" --name live $QUICK --set train.steps=100000 --set train.ckpt_every=0 \
    >"$tmp/live.log" 2>&1 &
pid=$!
i=0
until "$BIN" --db "$db" runs 2>/dev/null | grep -q ' running '; do
    sleep 0.2; i=$((i + 1)); [ $i -gt 100 ] && break
done
"$BIN" --db "$db" rm --yes live 2>"$tmp/err"
[ $? -ne 0 ] && grep -q "still training" "$tmp/err"
check rm_live_refused $? "rm of a live run without --force"
"$BIN" --db "$db" rm --yes --force live >/dev/null 2>"$tmp/err"
rc=$?
i=0
while kill -0 $pid 2>/dev/null; do sleep 0.2; i=$((i + 1)); [ $i -gt 50 ] && break; done
if kill -0 $pid 2>/dev/null; then
    fail rm_force_stops_the_run "training process still alive after rm --force"
    kill $pid
else pass rm_force_stops_the_run; fi
wait $pid 2>/dev/null
[ $rc -eq 0 ] && [ ! -e "$tmp/live.db-runs/1" ] && ! "$BIN" --db "$db" show live >/dev/null 2>&1
check rm_force_leaves_nothing $? "rc $rc; $(ls -R "$tmp/live.db-runs" 2>&1 | head)"

# ---- a store in a read-only directory ----------------------------------------------------------------
# root ignores permissions: run these as nobody when root (and skip without a way to).
ro=$tmp/ro
mkdir -p "$ro"
"$BIN" --db "$ro/runs.db" train "$TINY" --name x $QUICK --set train.steps=1 2>/dev/null
rm -f "$ro/runs.db-wal" "$ro/runs.db-shm"
AS=""
if [ "$(id -u)" = 0 ]; then
    if su nobody -s /bin/sh -c true 2>/dev/null; then AS=nobody; chmod 755 "$tmp"; chmod -R a+rX "$tmp"
    else echo "PASS readonly_dir_skipped (root without a 'nobody' user)"; exit 0; fi
    # A clone under a directory nobody cannot enter (mktemp -d, a 0700 home): nobody runs copies.
    if ! su nobody -s /bin/sh -c "test -x '$BIN' && test -r '$TINY'" 2>/dev/null; then
        mkdir -p "$tmp/as-nobody"
        cp "$BIN" "$tmp/as-nobody/repae" && cp "$TINY" "$tmp/as-nobody/tiny.json" && chmod -R a+rX "$tmp/as-nobody"
        BIN=$tmp/as-nobody/repae TINY=$tmp/as-nobody/tiny.json
    fi
fi
chmod 555 "$ro"
as() { if [ -n "$AS" ]; then su "$AS" -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
as "'$BIN' --db '$ro/runs.db' runs" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 0 ] && grep -q ' x ' "$tmp/out"
check readonly_dir_store_lists $? "$(cat "$tmp/out")"
as "'$BIN' --db '$ro/runs.db' note x hello" 2>"$tmp/err"
[ $? -ne 0 ] && grep -q "not writable" "$tmp/err" && ! grep -q "not an error" "$tmp/err"
check readonly_dir_store_says_why $? "no reason"
as "'$BIN' --db '$ro/new.db' runs" >"$tmp/out" 2>"$tmp/err"
as "'$BIN' --db '$ro/new.db' train '$TINY' --set train.steps=1" 2>"$tmp/err"
[ $? -ne 0 ] && grep -q "not writable" "$tmp/err"
check new_store_in_readonly_dir_says_why $? "no reason"
chmod 755 "$ro"
