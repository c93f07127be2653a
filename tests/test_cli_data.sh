#!/bin/sh
# test_cli_data.sh: `repae data` as a person runs it: the info line of shapes (and of
# fashion-mnist where the Debian package is installed), a grid PNG of the right size (one class
# per column), a folder of n PNGs with a labels CSV of n valid rows, and the errors for bad
# input (unknown dataset with a did-you-mean, an unwritable folder, --n out of range, --split).
# Prints PASS/FAIL lines like the C tests.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; [ -f "$tmp/err" ] && sed 's/^/    | /' "$tmp/err"; fails=$((fails + 1)); }
R() { "$BIN" --db "$tmp/runs.db" "$@" >"$tmp/out" 2>"$tmp/err"; }
# png_size FILE: "W H" from the IHDR chunk
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}'; }
# check NAME CONDITION-EXIT-STATUS MESSAGE
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }

# ---- info ----------------------------------------------------------------------------------------
R data; rc=$?
[ $rc -eq 0 ] && grep -q "^dataset shapes: train 50000, test 5000 images of 3 x 16 x 16" "$tmp/out"
check info_shapes_default $? "exit $rc, got: $(cat "$tmp/out")"
grep -q "^5 classes: 0 circle, 1 square, 2 triangle, 3 cross, 4 ring$" "$tmp/out"
check info_class_names $? "got: $(cat "$tmp/out")"
R data --dataset simple-shapes --image-size 24; rc=$?
[ $rc -eq 0 ] && grep -q "^dataset simple-shapes: .* 3 x 24 x 24" "$tmp/out" && grep -q "^4 classes:" "$tmp/out"
check info_simple_shapes_options $? "exit $rc, got: $(cat "$tmp/out")"
echo '{"data": {"dataset": "simple-shapes", "image_size": 8, "channels": 1}}' > "$tmp/c.json"
R data "$tmp/c.json"; rc=$?
[ $rc -eq 0 ] && grep -q "^dataset simple-shapes: .* 1 x 8 x 8" "$tmp/out"
check info_from_config $? "exit $rc, got: $(cat "$tmp/out")"
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  R data --dataset fashion-mnist; rc=$?
  [ $rc -eq 0 ] && grep -q "^dataset fashion-mnist: train 60000, test 10000 images of 1 x 32 x 32" "$tmp/out" &&
    grep -q "^10 classes: 0 T-shirt/top, 1 Trouser" "$tmp/out"
  check info_fashion_mnist $? "exit $rc, got: $(cat "$tmp/out")"
else
  echo "skip info_fashion_mnist: no /usr/share/datasets/fashion-mnist"
fi

# ---- grid ----------------------------------------------------------------------------------------
R data --n 10 --grid "$tmp/g.png"; rc=$?
check grid_writes_png $rc "exit $rc"
# 5 classes -> 5 columns of 2 rows, 16 px images and 1 px borders: 5*17+1 x 2*17+1
[ "$(png_size "$tmp/g.png")" = "86 35" ]; check grid_one_class_per_column $? "grid is $(png_size "$tmp/g.png"), want 86 35"
[ ! -s "$tmp/out" ]; check grid_prints_no_info $? "stdout: $(cat "$tmp/out")"
R data --n 3 --split test --grid "$tmp/g3.png" && [ "$(png_size "$tmp/g3.png")" = "52 18" ]
check grid_fewer_than_classes $? "grid is $(png_size "$tmp/g3.png"), want 52 18"
R data --dataset simple-shapes --channels 1 --n 8 --grid "$tmp/g1.png" && [ "$(png_size "$tmp/g1.png")" = "69 35" ]
check grid_gray $? "grid is $(png_size "$tmp/g1.png"), want 69 35"

# ---- folder --------------------------------------------------------------------------------------
R data --n 12 --split test --out "$tmp/imgs/sub"; rc=$?
check out_writes_folder $rc "exit $rc"
[ "$(ls "$tmp/imgs/sub" | grep -c '^[0-9]\{5\}\.png$')" = 12 ] && [ -f "$tmp/imgs/sub/00011.png" ]
check out_has_n_pngs $? "$(ls "$tmp/imgs/sub" | tr '\n' ' ')"
[ "$(png_size "$tmp/imgs/sub/00000.png")" = "16 16" ]; check out_png_size $? "00000.png is $(png_size "$tmp/imgs/sub/00000.png")"
csv="$tmp/imgs/sub/labels.csv"
[ "$(head -1 "$csv")" = "file,label" ] && [ "$(tail -n +2 "$csv" | wc -l)" -eq 12 ] &&
  tail -n +2 "$csv" | awk -F, '$1 !~ /^[0-9][0-9][0-9][0-9][0-9]\.png$/ || $2 !~ /^[0-4]$/ {bad=1} END {exit bad}'
check out_labels_csv $? "$(cat "$csv")"
tail -n +2 "$csv" | while IFS=, read -r f l; do [ -f "$tmp/imgs/sub/$f" ] || exit 1; done
check out_csv_names_files $? "a file of labels.csv is missing"
R data --n 4 --grid "$tmp/both.png" --out "$tmp/both" && [ -f "$tmp/both.png" ] && [ -f "$tmp/both/00003.png" ]
check grid_and_out_together $? "exit $?"

# ---- bad input -----------------------------------------------------------------------------------
R data --dataset fashon-mnist; rc=$?
[ $rc -eq 2 ] && grep -q "unknown dataset (did you mean 'fashion-mnist'?)" "$tmp/err"
check err_unknown_dataset $? "exit $rc"
R data --dataset zzz; rc=$?
[ $rc -eq 2 ] && grep -q "'zzz': unknown dataset; the datasets are shapes" "$tmp/err"
check err_unknown_dataset_no_hint $? "exit $rc"
: > "$tmp/afile"
R data --n 2 --out "$tmp/afile/sub"; rc=$?
[ $rc -eq 1 ] && grep -q "afile.*cannot create directory" "$tmp/err"
check err_unwritable_folder $? "exit $rc"
R data --n 0 --grid "$tmp/x.png"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--n" "$tmp/err" && grep -q "1" "$tmp/err" && [ ! -f "$tmp/x.png" ]
check err_n_zero $? "exit $rc"
R data --n 5001 --split test --out "$tmp/x"; rc=$?
[ $rc -eq 2 ] && grep -q "the test split of shapes has 5000 images; give --n 1..5000" "$tmp/err" && [ ! -d "$tmp/x" ]
check err_n_past_split $? "exit $rc"
R data --n 5000 --grid "$tmp/x.png"; rc=$?
[ $rc -eq 2 ] && grep -q "a grid holds 1..4096 images" "$tmp/err"
check err_grid_too_big $? "exit $rc"
R data --split valid; rc=$?
[ $rc -eq 2 ] && grep -q "split 'valid': expected train or test" "$tmp/err"
check err_bad_split $? "exit $rc"
R data --dataset folder --data-path "$tmp/nosuch"; rc=$?
[ $rc -eq 1 ] && grep -q "nosuch" "$tmp/err"
check err_missing_folder $? "exit $rc"
R data "$tmp/nosuch.json"; rc=$?
[ $rc -eq 1 ] && grep -q "nosuch.json" "$tmp/err"
check err_missing_config $? "exit $rc"
R data --grdi x.png; rc=$?
[ $rc -eq 2 ] && grep -q "did you mean --grid?" "$tmp/err"
check err_unknown_option $? "exit $rc"
"$BIN" data --help | grep -q "usage: repae data"; check help_on_stdout $? "no usage on stdout"
# --db is the global option even after `data`, and never the value of --out
(cd "$tmp" && "$BIN" --db "$tmp/runs.db" data --n 1 --out --db) >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && [ -f "$tmp/--db/00000.png" ]; check db_scan_knows_out_value $? "exit $rc"

[ $fails -eq 0 ]
