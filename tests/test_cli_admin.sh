#!/bin/sh
# test_cli_admin.sh: the housekeeping commands as issue 13 asked: `repae rm` asks before
# deleting (y/N on a terminal, here a pty from script(1)), takes --yes, refuses without a
# terminal unless --yes, and with several runs checks them all before deleting any; `export
# --csv` says what it wrote; a tag with a comma or a space is refused with the reason; `runs`
# and `show` tell how many processes trained a run and at what rate each.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
TINY=$(cd "$(dirname "$0")/../configs" && pwd)/tiny.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; [ -f "$tmp/err" ] && sed 's/^/    | /' "$tmp/err" | tail -10; }
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }
db=$tmp/a.db
R() { "$BIN" --db "$db" "$@"; }
for n in a b c; do
    R train "$TINY" --name $n --set train.threads=1 --set train.sample_every=0 --set train.steps=3 \
        --set train.log_every=1 2>"$tmp/err" || fail "train_$n" "setup"
done
has() { R show "$1" >/dev/null 2>&1; }

# ---- rm asks first ---------------------------------------------------------------------------------
R rm a </dev/null >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q -- "--yes" "$tmp/err" && has a
check rm_without_tty_refused $? "rm without a terminal and without --yes deleted or gave no hint"
if command -v script >/dev/null 2>&1; then
    printf 'n\n' | script -qec "'$BIN' --db '$db' rm a" /dev/null >"$tmp/err" 2>&1
    grep -q "\[y/N\]" "$tmp/err" && grep -q "nothing was deleted" "$tmp/err" && has a
    check rm_tty_no_keeps $? "answering n on a terminal"
    printf '\n' | script -qec "'$BIN' --db '$db' rm a" /dev/null >"$tmp/err" 2>&1
    has a
    check rm_tty_default_is_no $? "an empty answer deleted the run"
    printf 'y\n' | script -qec "'$BIN' --db '$db' rm a" /dev/null >"$tmp/err" 2>&1
    grep -q "run 1 'a': done" "$tmp/err" && grep -q "deleted run 1 'a'" "$tmp/err" && ! has a
    check rm_tty_yes_deletes $? "answering y on a terminal"
else
    echo "PASS rm_tty_skipped (no script(1) for a pty)"
fi

# ---- several runs: all checked before any is deleted ------------------------------------------------
R rm --yes b nosuch c >"$tmp/out" 2>"$tmp/err"
[ $? -ne 0 ] && grep -q "nosuch" "$tmp/err" && grep -q "nothing was deleted" "$tmp/err" && has b && has c
check rm_several_one_unknown_deletes_none $? "b or c deleted although 'nosuch' does not exist"
R rm --yes b c >"$tmp/out" 2>"$tmp/err"
[ $? -eq 0 ] && [ "$(grep -c "deleted run" "$tmp/out")" = 2 ] && ! has b && ! has c
check rm_several_yes $? "$(cat "$tmp/out")"

# ---- export --csv says what it wrote ----------------------------------------------------------------
R train "$TINY" --name e --set train.threads=1 --set train.sample_every=0 --set train.steps=4 \
    --set train.log_every=1 2>"$tmp/err"
R export e --csv "$tmp/e.csv" >"$tmp/out" 2>"$tmp/err"
rc=$?
rows=$(($(wc -l <"$tmp/e.csv") - 1))
[ $rc -eq 0 ] && grep -q "$tmp/e.csv" "$tmp/err" && grep -q "$rows rows" "$tmp/err" && [ "$rows" -eq 4 ]
check export_csv_says_path_and_rows $? "$(cat "$tmp/err")"
R export e --csv - >"$tmp/out" 2>"$tmp/err"
head -1 "$tmp/out" | grep -q "^step,wall" && grep -q "stdout" "$tmp/err" && ! grep -q "repae" "$tmp/out"
check export_csv_stdout_stays_clean $? "message on stdout or missing"

# ---- tags are single words ----------------------------------------------------------------------------
for t in "a,b" "a b"; do
    R tag e "$t" 2>"$tmp/err"
    rc=$?
    [ $rc -ne 0 ] && grep -Eq "comma|space" "$tmp/err" && ! R show e | grep -q "^tags"
    check "tag_refused_$(echo "$t" | tr ' ,' '_c')" $? "tag '$t' rc $rc"
done
R tag e sweep-1 2>"$tmp/err" && R show e | grep -q "^tags  *sweep-1"
check tag_word_accepted $? "a one-word tag"

# ---- processes and per-process rate ------------------------------------------------------------------
R runs >"$tmp/out" 2>"$tmp/err"
head -1 "$tmp/out" | grep -q "PROCS" && awk '$2 == "e" { found = 1; if ($0 !~ / 1  /) exit 1 } END { exit !found }' "$tmp/out"
check runs_shows_processes $? "$(cat "$tmp/out")"
R show e >"$tmp/out" 2>"$tmp/err"
grep -Eq "^processes +1, [0-9.e+]+ img/s each" "$tmp/out"
check show_shows_processes_and_rate $? "$(grep processes "$tmp/out")"
R runs --json | python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin) if x["name"]=="e"][0]; sys.exit(0 if r["world_size"]==1 and r["img_per_s_rank"]>0 else 1)' 2>"$tmp/err"
check runs_json_world_size $? "world_size / img_per_s_rank in --json"
