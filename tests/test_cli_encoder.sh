#!/bin/sh
# test_cli_encoder.sh: `repae encoder train` as a person runs it: the self-supervised default
# writes ssl-encoder-DATASET with its probe and baselines in the metadata and on stdout,
# --objective supervised writes encoder-DATASET, and a wrong --objective is a usage error.
# Short runs (a few steps, small probes): this is about the command, test_ssl about learning.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} REPAE_HOME="$tmp/home"
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; [ -f "$tmp/err" ] && sed 's/^/    | /' "$tmp/err"; fails=$((fails + 1)); }
R() { "$BIN" "$@" >"$tmp/out" 2>"$tmp/err"; }
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }
# meta FILE KEY: a metadata value of a safetensors file (the JSON header)
meta() { dd if="$1" bs=1 skip=8 count=4000 2>/dev/null | tr ',' '\n' | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"; }

R encoder train --dataset shapes --steps 6 --batch 8 --probe-n 300; rc=$?
f="$tmp/home/ssl-encoder-shapes.safetensors"
[ $rc -eq 0 ] && [ -f "$f" ] && grep -q "linear probe" "$tmp/out" && grep -q "random-init encoder" "$tmp/out"
check ssl_default_file_and_report $? "exit $rc, got: $(cat "$tmp/out")"
[ "$(meta "$f" repae.kind)" = ssl-encoder ] && [ "$(meta "$f" repae.objective)" = ssl ] &&
    [ -n "$(meta "$f" repae.probe_accuracy)" ] && [ -n "$(meta "$f" repae.lookup_align)" ] &&
    [ -n "$(meta "$f" repae.random_lookup_align)" ] && [ "$(meta "$f" repae.grid)" = 4x4 ]
check ssl_metadata $? "kind '$(meta "$f" repae.kind)' probe '$(meta "$f" repae.probe_accuracy)' grid '$(meta "$f" repae.grid)'"
grep -q "step 6/6" "$tmp/err"
check ssl_progress_lines $? "no progress on stderr"
R encoder train --dataset shapes --objective supervised --steps 4 --batch 8 --probe-n 300; rc=$?
g="$tmp/home/encoder-shapes.safetensors"
[ $rc -eq 0 ] && [ -f "$g" ] && [ "$(meta "$g" repae.kind)" = encoder ] && grep -q "test accuracy" "$tmp/out"
check supervised_file $? "exit $rc, kind '$(meta "$g" repae.kind)'"
R encoder train --objective dino; rc=$?
[ $rc -eq 2 ] && grep -q "ssl" "$tmp/err" && grep -q "supervised" "$tmp/err"
check wrong_objective $? "exit $rc"
[ $fails -eq 0 ]
