#!/bin/sh
# test_ui_shot.sh: sample images as a person sees them, through tests/tools/term_shot.sh
# (a headless xterm under Xvfb, screenshot to PNG): first the tool itself (exit status, keys,
# the light and dark themes), then the Run screen of a run with samples shows
# the sample grid as coloured pixels where the grid is, as sixel in `xterm -ti vt340` (colours
# beyond the 8 of the palette) and as half blocks in a plain xterm (only palette colours).
# Pixels are read with ImageMagick (`convert shot.png -format '%[pixel:p{X,Y}]' info:`).
# Needs xvfb xterm xdotool imagemagick (make test installs them); missing ones are a FAIL.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHOT=$ROOT/tests/tools/term_shot.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }

[ -r "$SHOT" ] || { fail tools_present "no $SHOT (the screenshot tool)"; exit 1; }
for t in Xvfb xterm xdotool import convert; do
  command -v $t >/dev/null || { fail tools_present "missing $t: apt-get install xvfb xterm xdotool imagemagick (make test does)"; exit 1; }
done
[ -x "$BIN" ] || { fail binary_built "no $BIN"; exit 1; }
pass tools_present

# The tool itself. rgb PNG X Y: the colour there as R,G,B in 0..255 (a two-colour screenshot
# is a gray PNG, which %[pixel:] would name gray(N)).
rgb() { convert "$1" -format "%[fx:round(255*p{$2,$3}.r)],%[fx:round(255*p{$2,$3}.g)],%[fx:round(255*p{$2,$3}.b)]" info:; }
# 1. keys reach the program, and its exit status is reported (FILE.rc and stdout).
if bash "$SHOT" -o "$tmp/keys.png" -g 40x5 -w 0.5 -a type:hello -a key:Return -a wait:5 -- \
     sh -c 'read -r line; [ "$line" = hello ] && exit 7; exit 1' > "$tmp/keys.log" 2>&1 &&
   [ "$(cat "$tmp/keys.png.rc")" = 7 ] && grep -q 'exited with status 7' "$tmp/keys.log" && [ -s "$tmp/keys.png" ]
then pass shot_keys_and_exit_status
else fail shot_keys_and_exit_status "want rc 7 after typing hello: rc '$(cat "$tmp/keys.png.rc" 2>/dev/null)', $(tail -3 "$tmp/keys.log")"; fi
# 2. a command still running at the last shot is reported so and stopped with its children.
if bash "$SHOT" -o "$tmp/run.png" -g 40x5 -w 0.5 -- sh -c "sleep 600 & echo \$! > '$tmp/child'; echo \$\$ > '$tmp/parent'; wait" \
     > "$tmp/run.log" 2>&1 && [ "$(cat "$tmp/run.png.rc")" = running ] &&
   ! kill -0 "$(cat "$tmp/child")" 2>/dev/null && ! kill -0 "$(cat "$tmp/parent")" 2>/dev/null
then pass shot_stops_running_command
else fail shot_stops_running_command "rc '$(cat "$tmp/run.png.rc" 2>/dev/null)'; child or parent left running? $(tail -3 "$tmp/run.log")"; fi
# 3. a TERM during a long wait ends the tool at once (it once waited for its sleep to finish)
# and takes the command with it.
bash "$SHOT" -o "$tmp/term.png" -g 40x5 -w 60 -- sh -c "echo \$\$ > '$tmp/term_cmd'; sleep 600" \
  > "$tmp/term.log" 2>&1 &
shot_pid=$!
n=0
while [ ! -s "$tmp/term_cmd" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
sleep 1.5 # past the window set-up, into the 60 s wait
kill -TERM $shot_pid
n=0
while kill -0 $shot_pid 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
if kill -0 $shot_pid 2>/dev/null; then
  # not KILL: that would orphan its X server; it ends (and cleans up) once its wait is over
  fail shot_stops_on_term "still running 5 s after TERM"
elif [ -s "$tmp/term_cmd" ] && kill -0 "$(cat "$tmp/term_cmd")" 2>/dev/null; then
  fail shot_stops_on_term "the command outlived the tool"
elif [ ! -s "$tmp/term_cmd" ]; then
  fail shot_stops_on_term "the command never started: $(tail -3 "$tmp/term.log")"
else pass shot_stops_on_term; fi
wait $shot_pid 2>/dev/null
# 4. themes: the background of a blank cell and the colour of a full block (U+2588) in it.
theme_ok=1
for theme in light dark; do
  if bash "$SHOT" -t $theme -o "$tmp/$theme.png" -g 20x4 -w 0.5 -a wait:5 -- \
       sh -c 'printf "\342\226\210\342\226\210\342\226\210\n"' > "$tmp/$theme.log" 2>&1; then
    bg=$(rgb "$tmp/$theme.png" 90 40) fg=$(rgb "$tmp/$theme.png" 8 6)
  else bg="term_shot failed: $(tail -3 "$tmp/$theme.log")" fg=; fi
  case $theme:$bg:$fg in
    light:255,255,255:0,0,0|dark:0,0,0:255,255,255) ;;
    *) theme_ok=0; fail shot_themes "-t $theme: background '$bg', text '$fg'" ;;
  esac
done
[ $theme_ok = 1 ] && pass shot_themes

db=$tmp/runs.db
if "$BIN" --db "$db" train configs/tiny.json --name shots --set train.steps=30 --set train.sample_every=10 \
     > "$tmp/train.log" 2>&1; then pass prepare_run_with_samples
else fail prepare_run_with_samples "$(tail -3 "$tmp/train.log")"; exit 1; fi

COLS=100 ROWS=30
# shot NAME TERMINAL-ID: the Run screen (enter on the only run), after the samples have drawn.
shot() {
  bash "$SHOT" -o "$tmp/$1.png" -g ${COLS}x$ROWS -T "$2" -w 3 -a key:Return -a sleep:2.5 -- \
    env REPAE_DB="$db" "$BIN" > "$tmp/$1.log" 2>&1 && [ -s "$tmp/$1.png" ]
}

# Probes the samples pane: cells in columns 72..90 and rows 6..14 (the right pane of a 100x30
# Run screen is columns 65..98 from row 5; with term_shot's 6x13-pixel font the 69x69-pixel
# grid is drawn as sixel at 2x, 23 cells by 11 rows, centred; as half blocks 33 by 17), at the
# centre of the top half of each cell. Prints: probes, probes unlike the background, probes off the 8-colour palette,
# distinct colours, the background. BGCOL BGROW: a cell that is blank on that screen.
probe() {
  png=$1 bgc=$2 bgr=$3
  set -- $(convert "$png" -format '%w %h' info:)
  w=$1 h=$2
  bg=$(convert "$png" -format "%[pixel:p{$(( (2 * bgc + 1) * w / (2 * COLS) )),$(( (2 * bgr + 1) * h / (2 * ROWS) ))}]" info:)
  n=0 other=0 offpal=0
  : > "$tmp/colours"
  col=72
  while [ $col -le 90 ]; do
    row=6
    while [ $row -le 14 ]; do
      x=$(( (2 * col + 1) * w / (2 * COLS) )) y=$(( (4 * row + 1) * h / (4 * ROWS) ))
      p=$(convert "$png" -format "%[pixel:p{$x,$y}]" info:)
      echo "$p" >> "$tmp/colours"
      n=$((n + 1))
      [ "$p" != "$bg" ] && other=$((other + 1))
      # xterm's 8 ANSI colours (and the background white, 255 or 248)
      case $p in
        "srgb(0,0,0)"|"srgb(205,0,0)"|"srgb(0,205,0)"|"srgb(205,205,0)"|"srgb(0,0,238)"|"srgb(205,0,205)"|\
        "srgb(0,205,205)"|"srgb(229,229,229)"|black|white|"srgb(255,255,255)"|"srgb(248,248,248)") ;;
        *) offpal=$((offpal + 1)) ;;
      esac
      row=$((row + 2))
    done
    col=$((col + 3))
  done
  echo "$n $other $offpal $(sort -u "$tmp/colours" | wc -l) $bg"
}

# 1. vt340: DA1 answers attribute 4, so the grid is sixel: many colours beyond the palette.
if shot sixel vt340; then
  set -- $(probe "$tmp/sixel.png" 90 3)
  n=$1 other=$2 offpal=$3 distinct=$4 bg=$5
  if [ "$other" -ge $((n * 8 / 10)) ] && [ "$offpal" -ge $((n / 2)) ] && [ "$distinct" -ge 8 ]; then
    pass sixel_grid_coloured
  else
    fail sixel_grid_coloured "of $n probes in the samples pane: $other unlike the background $bg, $offpal off the 8-colour palette, $distinct distinct (want >= 80%, >= 50%, >= 8)"
  fi
else fail sixel_grid_coloured "term_shot failed: $(cat "$tmp/sixel.log")"; fi

# 2. a plain xterm (no sixel, TERM=xterm: 8 colours): half blocks in palette colours only.
if shot plain none; then
  set -- $(probe "$tmp/plain.png" 90 3)
  n=$1 other=$2 offpal=$3 distinct=$4 bg=$5
  if [ "$other" -ge $((n * 8 / 10)) ] && [ "$offpal" -eq 0 ] && [ "$distinct" -ge 2 ]; then
    pass halfblock_fallback
  else
    fail halfblock_fallback "of $n probes in the samples pane: $other unlike the background $bg, $offpal off the 8-colour palette (want 0), $distinct distinct"
  fi
else fail halfblock_fallback "term_shot failed: $(cat "$tmp/plain.log")"; fi

# 3. the same screen without the image: the probes must see background there (the test can fail).
if bash "$SHOT" -o "$tmp/runs.png" -g ${COLS}x$ROWS -T vt340 -w 2 -- env REPAE_DB="$db" "$BIN" > "$tmp/runs.log" 2>&1; then
  set -- $(probe "$tmp/runs.png" 90 20)
  if [ "$2" -le $(($1 / 10)) ]; then pass probes_see_background_without_image
  else fail probes_see_background_without_image "$2 of $1 probes unlike the background on the Runs screen"; fi
else fail probes_see_background_without_image "term_shot failed: $(cat "$tmp/runs.log")"; fi

[ "$fails" -eq 0 ]
