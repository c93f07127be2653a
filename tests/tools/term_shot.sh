#!/bin/bash
# term_shot.sh: runs a command in a headless xterm (under its own Xvfb), types keys into it and
# saves what the terminal shows as PNG screenshots. The dashboard tests use it to look at the
# screen as a person sees it (sixel images, colours, themes); a developer uses it to look at the
# dashboard on a machine without a display.
#
# usage: tests/tools/term_shot.sh [options] [--] COMMAND [ARG...]
#   -o FILE     the final screenshot (PNG)                         [./term_shot.png]
#   -g CxR      terminal size in cells                             [100x30]
#   -w SECS     wait this long after the start, before the actions [2]
#   -u FILE     instead of -w: wait until FILE exists (at most 30 s), then 0.3 s more
#   -T ID       xterm's terminal id: vt340 answers DA1 with sixel (";4"), so sixel images draw;
#               none = a plain xterm (no sixel)                    [vt340]
#   -t THEME    light (black on white) or dark (white on black); without -t, xterm's defaults
#   -f FONT     xterm font (-fn)                                   [xterm's "fixed", 6x13 pixels]
#   -r RES      an X resource for the xterm, repeatable: -r 'XTerm*numColorRegisters: 256'
#   -a ACTION   repeatable, done in order after the wait:
#                 key:KEYS     xdotool key names, space-separated: key:Return  key:q  key:ctrl+c
#                 type:TEXT    types TEXT
#                 sleep:SECS   waits
#                 shot:FILE    a screenshot now (PNG)
#                 resize:CxR   resizes the terminal to C columns and R rows (the program gets SIGWINCH)
#                 wait:SECS    waits until the command has exited, at most SECS
#   -k          keep the log (Xvfb, xterm, ImageMagick messages) and print where it is
#   -h          this help
# Inside the terminal TERM is xterm's (xterm; -r 'XTerm*termName: xterm-256color' changes it)
# and the environment is the caller's.
#
# It reports the command's exit status: written to FILE.rc (next to the final screenshot) as a
# number, or "running" if the command was still running at the final shot (it is then stopped),
# and in the last line it prints to stdout. Exit status: 0 when the final screenshot was
# written, 1 when something failed (the log says what), 2 for a usage error.
# Every process it started (Xvfb, xterm, the command and its process group) is gone when it
# returns, also when interrupted.
#
# Needs Xvfb, xterm, xdotool and ImageMagick: apt-get install xvfb xterm xdotool imagemagick
# (`make deps-test` installs them). Examples (from the repository root, after `make`):
#   tests/tools/term_shot.sh -o runs.png -- build/repae              # the Runs screen
#   tests/tools/term_shot.sh -t dark -o run.png -a key:Return -a sleep:2 -- build/repae
#   tests/tools/term_shot.sh -T none -g 80x24 -a shot:a.png -a key:c -a sleep:1 -o b.png -- build/repae
# docs/testing.md has more.
set -u

# usage [STATUS]: the header above as help (exit 2, a usage error, unless told otherwise).
usage() { sed -n '7,41p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
die() { echo "term_shot: $*" >&2; exit 1; }

out=./term_shot.png size=100x30 delay=2 until_file= tid=vt340 theme= font= keep=0
resources=() actions=()
while getopts o:g:w:u:T:t:f:r:a:kh opt; do
  case $opt in
    o) out=$OPTARG ;;
    g) size=$OPTARG ;;
    w) delay=$OPTARG ;;
    u) until_file=$OPTARG ;;
    T) tid=$OPTARG ;;
    t) theme=$OPTARG ;;
    f) font=$OPTARG ;;
    r) resources+=("$OPTARG") ;;
    a) actions+=("$OPTARG") ;;
    k) keep=1 ;;
    h) usage 0 ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "term_shot: no command given" >&2; usage; }
[[ $size =~ ^[0-9]+x[0-9]+$ ]] || { echo "term_shot: -g $size: want COLSxROWS, e.g. 100x30" >&2; exit 2; }
case $theme in
  "") colours=() ;;
  light) colours=(-fg black -bg white -cr black) ;;
  dark) colours=(-fg white -bg black -cr white) ;;
  *) echo "term_shot: -t $theme: want light or dark" >&2; exit 2 ;;
esac
for a in "${actions[@]}"; do
  case $a in
    key:?*|type:*|sleep:?*|shot:?*|wait:?*) ;;
    resize:*) [[ ${a#resize:} =~ ^[0-9]+x[0-9]+$ ]] || { echo "term_shot: -a $a: want resize:COLSxROWS" >&2; exit 2; } ;;
    *) echo "term_shot: -a $a: unknown action (key: type: sleep: shot: resize: wait:)" >&2; exit 2 ;;
  esac
done
for tool in Xvfb xterm xdotool import; do
  command -v $tool >/dev/null ||
    die "$tool is not installed: apt-get install xvfb xterm xdotool imagemagick (make deps-test does)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/term_shot.XXXXXX") || die "cannot make a temporary directory"
log=$work/log
: > "$log"
xvfb_pid= xterm_pid= cmd_pgid= nap_pid=

# nap SECS: sleep in the background and wait for it, so that a TERM or an INT stops us at once
# (bash runs a trap only after the foreground command ends, and -w or sleep: can be long).
nap() { sleep "$1" & nap_pid=$!; wait "$nap_pid"; nap_pid=; }

# Stops what is still running, newest first: the command's process group (the wrapper below
# is its leader: xterm starts it in a session of its own), then xterm, then the X server.
stop_all() {
  if [ -n "$nap_pid" ]; then kill "$nap_pid" 2>/dev/null; nap_pid=; fi
  if [ -z "$cmd_pgid" ] && [ -s "$work/pid" ]; then cmd_pgid=$(cat "$work/pid"); fi
  if [ -n "$cmd_pgid" ] && kill -0 -- "-$cmd_pgid" 2>/dev/null; then
    kill -TERM -- "-$cmd_pgid" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
      kill -0 -- "-$cmd_pgid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$cmd_pgid" 2>/dev/null
  fi
  if [ -n "$xterm_pid" ]; then kill "$xterm_pid" 2>/dev/null; wait "$xterm_pid" 2>/dev/null; fi
  if [ -n "$xvfb_pid" ]; then kill "$xvfb_pid" 2>/dev/null; wait "$xvfb_pid" 2>/dev/null; fi
  xterm_pid= xvfb_pid= cmd_pgid=
}
finish() {
  stop_all
  if [ "$keep" = 1 ]; then echo "term_shot: log kept in $log" >&2
  else rm -rf "$work"; fi
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
fail() { echo "term_shot: $*" >&2; sed 's/^/term_shot:   | /' "$log" | tail -20 >&2; exit 1; }

# 1. An X server on a display it picks itself: -displayfd writes the number once it listens,
# so there is no guessing of free displays and no race with other runs. The screen is large
# enough for a 250x80 terminal in a 10x20 font.
Xvfb -displayfd 3 -screen 0 2560x1664x24 -nolisten tcp 3> "$work/display" >> "$log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 600); do
  grep -q '^[0-9]' "$work/display" 2>/dev/null && break
  kill -0 "$xvfb_pid" 2>/dev/null || fail "Xvfb exited at start-up"
  sleep 0.05
done
display=$(head -1 "$work/display")
[ -n "$display" ] || fail "Xvfb gave no display number within 30 s"
export DISPLAY=:$display

# 2. The xterm. -hold keeps the window, and its last screen, after the command exits. The
# wrapper records its pid (the process group to stop) and the command's exit status.
args=(-geometry "$size+0+0" -hold -xrm 'XTerm*allowWindowOps: true' "${colours[@]}")
[ "$tid" = none ] || args+=(-ti "$tid")
[ -z "$font" ] || args+=(-fn "$font")
for r in "${resources[@]}"; do args+=(-xrm "$r"); done
wrapper='echo $$ > "$0/pid"; "$@"; echo $? > "$0/rc.new" && mv "$0/rc.new" "$0/rc"'
xterm "${args[@]}" -e sh -c "$wrapper" "$work" "$@" >> "$log" 2>&1 &
xterm_pid=$!
window=$(timeout 30 xdotool search --sync --onlyvisible --pid "$xterm_pid" 2>> "$log" | head -1)
[ -n "$window" ] || fail "xterm's window did not appear within 30 s"
# No window manager gives focus, and XTEST key events go to the focused window.
xdotool mousemove --sync 10 10 windowfocus --sync "$window" >> "$log" 2>&1

# 3. Let the program draw, then the actions.
if [ -n "$until_file" ]; then
  for _ in $(seq 300); do [ -e "$until_file" ] && break; sleep 0.1; done
  [ -e "$until_file" ] || echo "term_shot: $until_file did not appear within 30 s" >&2
  nap 0.3
else
  nap "$delay"
fi

screenshot() {
  import -window "$window" "$1" >> "$log" 2>&1 && [ -s "$1" ] || fail "no screenshot $1 (import failed)"
}
for a in "${actions[@]}"; do
  case $a in
    key:*) xdotool key --delay 40 ${a#key:} >> "$log" 2>&1 ;; # unquoted: several key names
    type:*) xdotool type --delay 40 -- "${a#type:}" >> "$log" 2>&1 ;;
    sleep:*) nap "${a#sleep:}" ;;
    shot:*) screenshot "${a#shot:}" ;;
    resize:*)
      cr=${a#resize:}
      # --usehints: the size in character cells, through xterm's size hints
      xdotool windowsize --usehints "$window" "${cr%x*}" "${cr#*x}" >> "$log" 2>&1 ;;
    wait:*)
      n=$(awk -v s="${a#wait:}" 'BEGIN { print int(s * 10 + 0.5) }')
      while [ "$n" -gt 0 ] && [ ! -e "$work/rc" ]; do sleep 0.1; n=$((n - 1)); done ;;
  esac
done
screenshot "$out"

if [ -e "$work/rc" ]; then status=$(cat "$work/rc"); else status=running; fi
echo "$status" > "$out.rc"
stop_all
if [ "$status" = running ]; then
  echo "term_shot: $out; the command was still running (stopped)"
else
  echo "term_shot: $out; the command exited with status $status"
fi
