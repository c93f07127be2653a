#!/bin/sh
# test_ui_theme_shot.sh: the dashboard's colours and images as a person sees them, through
# tests/tools/term_shot.sh (a headless xterm under Xvfb; pixels read with ImageMagick), on the
# generated runs of tests/fake_dashboard:
# - the selected row of the Runs list and of the Launch screen's config list is a bar of its
#   own colour whose text stands out, on a light and a dark background, in 256 and 8 colours
#   (the bar was colour 236 behind the default foreground: a black bar on white), and a run's
#   coloured status inside it reads like the rest of the bar (reversed, it was white on cyan);
# - a sixel image is gone once its pane or view changes (the Run screen's config pane,
#   Compare's curves after its samples): it stayed under the text until ^L.
# Needs xvfb xterm xdotool imagemagick (make test installs them); missing ones are a FAIL.
BUILD=${BUILD:-build}
FAKE=$(cd "$BUILD/tests" 2>/dev/null && pwd)/fake_dashboard
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHOT=$ROOT/tests/tools/term_shot.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
[ -n "${KEEP_SHOTS:-}" ] && trap 'mkdir -p "$KEEP_SHOTS" && cp "$tmp"/*.png "$KEEP_SHOTS"/; rm -rf "$tmp"' EXIT # to look at them
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }

[ -r "$SHOT" ] || { fail tools_present "no $SHOT (the screenshot tool)"; exit 1; }
for t in Xvfb xterm xdotool import convert; do
  command -v $t >/dev/null || { fail tools_present "missing $t: apt-get install xvfb xterm xdotool imagemagick"; exit 1; }
done
[ -x "$FAKE" ] || { fail binary_built "no $FAKE"; exit 1; }
cd "$ROOT" || exit 1 # the Launch screen lists configs/*.json of the working directory

COLS=100 ROWS=30
# gray PNG COL ROW: the luma (0..1) at the centre of the top half of a cell
gray() {
  set -- "$1" "$2" "$3" $(convert "$1" -format '%w %h' info:)
  convert "$1" -format "%[fx:p{$(( (2 * $2 + 1) * $4 / (2 * COLS) )),$(( (4 * $3 + 1) * $5 / (4 * ROWS) ))}.intensity]" info:
}
# span PNG COL0 NCOLS ROW: the lowest and highest luma over the middle half (in height) of
# those cells, clear of the rows above and below
span() {
  set -- "$1" "$2" "$3" "$4" $(convert "$1" -format '%w %h' info:)
  x=$(( $2 * $5 / COLS )) w=$(( $3 * $5 / COLS )) y=$(( (4 * $4 + 1) * $6 / (4 * ROWS) )) h=$(( $6 / (2 * ROWS) ))
  convert "$1" -crop "${w}x$h+$x+$y" +repage -colorspace Gray -format '%[fx:minima] %[fx:maxima]' info:
}
# bar NAME PNG TEXTCOL NCOLS BARCOL ROW: the row is a bar (unlike the background at a blank
# cell) and its text differs from the bar by at least 0.45 in luma.
bar() {
  bg=$(gray "$2" 60 25) b=$(gray "$2" "$5" "$6")
  set -- "$1" "$2" $(span "$2" "$3" "$4" "$6")
  if awk -v bg="$bg" -v b="$b" -v lo="$3" -v hi="$4" 'BEGIN {
       d = hi - b; if (b - lo > d) d = b - lo; e = bg - b; if (e < 0) e = -e
       exit !(e > 0.04 && d >= 0.45) }'; then pass "$1"
  else fail "$1" "selection bar luma $b on background $bg, its text spans $3..$4 (want a bar unlike the background and text 0.45 from it)"
  fi
}

# flat NAME PNG TEXTCOL NCOLS BARCOL ROW: as bar, and the darkest and lightest pixels of those
# cells are the bar's and its text's: no coloured patch inside the bar (reversed coloured text
# drew white on cyan in light 8-colour terminals).
flat() {
  b=$(gray "$2" "$5" "$6")
  set -- "$1" "$2" $(span "$2" "$3" "$4" "$6")
  if awk -v b="$b" -v lo="$3" -v hi="$4" 'BEGIN {
       near = (b < 0.5) ? lo - b : b - hi; if (near < 0) near = -near
       far = (b < 0.5) ? hi - b : b - lo
       exit !(near < 0.12 && far >= 0.45) }'; then pass "$1"
  else fail "$1" "in a bar of luma $b those cells span $3..$4 (want one end at the bar's, the other 0.45 from it)"
  fi
}

# The row of the Launch screen's preselected config (scr_launch.c: first-run.json, else tiny).
pre=first-run; [ -f configs/first-run.json ] || pre=tiny
sel_row=$(( 1 + $(ls configs/*.json | sort | grep -n "/$pre.json\$" | cut -d: -f1) ))
# theme TERMNAME THEME: the Runs screen, then the Launch screen
for case in "xterm-256color light" "xterm-256color dark" "xterm light" "xterm dark"; do
  set -- $case
  name=$1-$2
  if bash "$SHOT" -T none -t "$2" -r "XTerm*termName: $1" -g ${COLS}x$ROWS -w 2 -a shot:"$tmp/$name-runs.png" \
       -a key:n -a sleep:1 -o "$tmp/$name-launch.png" -- "$FAKE" 12 > "$tmp/$name.log" 2>&1 &&
     [ -s "$tmp/$name-launch.png" ]; then
    # Runs: the newest run's name in columns 2..13 of row 3; column 98 of its row is blank
    bar "runs_selection_$name" "$tmp/$name-runs.png" 2 12 98 3
    bar "launch_selection_$name" "$tmp/$name-launch.png" 1 8 26 "$sel_row"
  else fail "shots_$name" "$(tail -3 "$tmp/$name.log")"
  fi
done

# The selection on a run whose status has a colour (done: cyan), in 8 and 256 colours on a
# light background: the status cells read like the rest of the bar (columns 20..22 of row 4, inside "done").
for term in xterm xterm-256color; do
  if bash "$SHOT" -T none -t light -r "XTerm*termName: $term" -g ${COLS}x$ROWS -w 2 -a key:Down -a sleep:0.7 \
       -o "$tmp/$term-light-done.png" -- "$FAKE" 12 > "$tmp/$term-done.log" 2>&1 && [ -s "$tmp/$term-light-done.png" ]; then
    flat "runs_selected_status_readable_${term}_light" "$tmp/$term-light-done.png" 20 3 98 4
  else fail "shots_${term}_done" "$(tail -3 "$tmp/$term-done.log")"
  fi
done

# offpal PNG COL0 NCOLS ROW0 NROWS: the share (percent) of pixels there that are none of
# xterm's 16 palette colours (sample images are; text and charts are not, but for faint text)
offpal() {
  set -- "$1" "$2" "$3" "$4" "$5" $(convert "$1" -format '%w %h' info:)
  x=$(( $2 * $6 / COLS )) w=$(( $3 * $6 / COLS )) y=$(( $4 * $7 / ROWS )) h=$(( $5 * $7 / ROWS ))
  convert "$1" -crop "${w}x$h+$x+$y" +repage -depth 8 txt:- | awk -v total=$((w * h)) '
    NR > 1 { c = $2; gsub(/[()]/, "", c); n++
      if (c !~ /^(0,0,0|205,0,0|0,205,0|205,205,0|0,0,238|205,0,205|0,205,205|229,229,229|127,127,127|255,0,0|0,255,0|255,255,0|92,92,255|255,0,255|0,255,255|255,255,255)$/) off++ }
    END { printf "%d\n", 100 * off / (total ? total : 1) }'
}

# 2. The Run screen shows the sample grid as sixel in its right pane (columns 64..98 from row
# 5; the grid in columns 70..92, rows 6..14); c switches the pane to the config, whose
# text covers only its first rows.
if bash "$SHOT" -T vt340 -t light -g ${COLS}x$ROWS -w 2 -a key:Return -a sleep:2 -a shot:"$tmp/run-samples.png" \
     -a key:c -a sleep:1.5 -o "$tmp/run-config.png" -- "$FAKE" 3 > "$tmp/run.log" 2>&1 && [ -s "$tmp/run-config.png" ]; then
  before=$(offpal "$tmp/run-samples.png" 70 22 6 9) after=$(offpal "$tmp/run-config.png" 70 22 6 9)
  if [ "$before" -ge 30 ] && [ "$after" -le 2 ]; then pass run_config_pane_clears_samples
  else fail run_config_pane_clears_samples "image pixels in the pane: ${before}% with samples (want >= 30), ${after}% on the config pane (want <= 2)"
  fi
else fail run_config_pane_clears_samples "$(tail -3 "$tmp/run.log")"
fi

# 3. Compare: two runs' sample grids (view 3), then the curves (view 1) over the same cells.
if bash "$SHOT" -T vt340 -t light -g ${COLS}x$ROWS -w 2 -a key:space -a key:space -a key:c -a sleep:1 -a key:3 \
     -a sleep:2 -a shot:"$tmp/cmp-samples.png" -a key:1 -a sleep:1.5 -o "$tmp/cmp-curves.png" -- "$FAKE" 3 \
     > "$tmp/cmp.log" 2>&1 && [ -s "$tmp/cmp-curves.png" ]; then
  before=$(offpal "$tmp/cmp-samples.png" 2 46 6 12) after=$(offpal "$tmp/cmp-curves.png" 2 46 6 12)
  if [ "$before" -ge 30 ] && [ "$after" -le 10 ]; then pass compare_curves_clear_samples
  else fail compare_curves_clear_samples "image pixels: ${before}% with samples (want >= 30), ${after}% on the curves (want <= 10)"
  fi
else fail compare_curves_clear_samples "$(tail -3 "$tmp/cmp.log")"
fi
[ "$fails" -eq 0 ]
