#!/bin/sh
# test_cli_args.sh: the command line as a person mistypes it: a mistyped command gets a
# did-you-mean, a mistyped option too, a number out of range says the range, a missing or
# broken config names its file once with one prefix, a bad --set names the key once. Nothing
# here trains; every command runs in a temporary directory.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
CONFIGS=$(cd "$(dirname "$0")/../configs" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
cd "$tmp" || exit 1
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; [ -f "$tmp/err" ] && sed 's/^/    | /' "$tmp/err"; fails=$((fails + 1)); }
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }
R() { "$BIN" --db "$tmp/runs.db" "$@" >"$tmp/out" 2>"$tmp/err"; }

R rnus; rc=$?
[ $rc -eq 2 ] && grep -q "unknown command 'rnus' (did you mean 'runs'?)" "$tmp/err"
check mistyped_command_suggests $? "exit $rc"
R xyzzy; rc=$?
[ $rc -eq 2 ] && grep -q "unknown command 'xyzzy'" "$tmp/err" && ! grep -q "did you mean" "$tmp/err" && grep -q "commands:" "$tmp/err"
check unknown_command_lists_commands $? "exit $rc"

R runs --jsno; rc=$?
[ $rc -eq 2 ] && grep -q "repae runs: unknown option '--jsno' (did you mean --json?)" "$tmp/err" && grep -q "usage: repae runs" "$tmp/err"
check mistyped_option_suggests $? "exit $rc"
R bench --steps 0; rc=$?
[ $rc -eq 2 ] && grep -q "repae bench: --steps must be an integer in \[1, 1000000\], not '0'" "$tmp/err"
check out_of_range_says_the_range $? "exit $rc"
R export 1 --csv; rc=$?
[ $rc -eq 2 ] && grep -q "repae export: --csv needs a value" "$tmp/err"
check missing_value $? "exit $rc"
R rm --force=yes 1; rc=$?
[ $rc -eq 2 ] && grep -q "repae rm: --force takes no value" "$tmp/err"
check flag_with_value $? "exit $rc"

# Config errors: one prefix, the file once.
R train nope.json; rc=$?
[ $rc -eq 2 ] && [ "$(cat "$tmp/err")" = "repae train: nope.json: cannot open: No such file or directory" ]
check missing_config_said_once $? "exit $rc"
printf '{"train": {"steps": 10,,}}\n' > bad.json
R train bad.json; rc=$?
[ $rc -eq 2 ] && [ "$(grep -o 'bad.json' "$tmp/err" | wc -l)" -eq 1 ] && grep -q "^repae train: bad.json:1:" "$tmp/err"
check malformed_config_said_once $? "exit $rc"
R train "$CONFIGS/tiny.json" --set train.stpes=5; rc=$?
[ $rc -eq 2 ] && [ "$(grep -o -- '--set' "$tmp/err" | wc -l)" -eq 1 ] && grep -q 'did you mean "train.steps"' "$tmp/err"
check bad_set_said_once $? "exit $rc"
R bench --set train.steps=abc; rc=$?
[ $rc -eq 2 ] && grep -q "^repae bench: --set train.steps: must be an integer" "$tmp/err"
check bench_bad_set $? "exit $rc"
[ ! -e "$tmp/runs.db" ]
check no_store_created_by_bad_lines $? "a refused command line created the store"

# --db after the command and as --db=PATH; an option's value that reads --db stays a value.
R runs --db="$tmp/other.db"; rc=$?
[ $rc -eq 0 ] && grep -q "other.db" "$tmp/err"
check db_equals_form $? "exit $rc"
R train "$CONFIGS/tiny.json" --set --db --name x; rc=$?
[ $rc -eq 2 ] && grep -q -- '--set "--db": expected key.path=value' "$tmp/err"
check db_as_set_value $? "exit $rc"

"$BIN" runs --help | grep -q "usage: repae runs"; check help_on_stdout $? "no usage on stdout"

# `repae --help`: every command it lists answers its own --help, and the summaries start in one
# column (the list is made from the command table, not typed in).
"$BIN" --help > "$tmp/help" 2>"$tmp/err"; rc=$?
cmds=$(sed -n '/^commands:/,$p' "$tmp/help" | sed -n 's/^  \([a-z]*\).*/\1/p')
ok=$rc; n=0
for c in $cmds; do
    n=$((n + 1))
    "$BIN" "$c" --help 2>&1 | head -n 1 | grep -q "^usage: repae $c" || { echo "    | $c --help: no usage"; ok=1; }
done
cols=$(sed -n '/^commands:/,$p' "$tmp/help" | awk 'NR > 1 { if (match($0, /[^ ]  +[^ ]/)) print RSTART + RLENGTH - 1 }' | sort -u | wc -l)
[ "$ok" -eq 0 ] && [ "$n" -ge 16 ] && [ "$cols" -eq 1 ]
check help_lists_every_command $? "exit $rc, $n commands, summaries in $cols columns"
[ $fails -eq 0 ]
