#!/bin/sh
# test_ui_terminal.sh: the dashboard where a first user starts it badly: not a terminal, TERM=dumb,
# an unknown or unset TERM (each a clear refusal, never a garbled screen or ncurses' bare
# "Error opening terminal"), and from a directory without configs/ (the Launch screen still
# finds the recipes beside the binary). Uses a private tmux server.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
tmp=$(mktemp -d)
sock=qa-ui-$$
trap 'tmux -L $sock kill-server 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

"$BIN" --db "$tmp/x.db" </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -ne 0 ] && grep -q "needs a terminal" "$tmp/err" && [ ! -s "$tmp/out" ] && pass not_a_tty_refused \
    || fail not_a_tty_refused "rc $rc: $(cat "$tmp/err")"

if ! command -v tmux >/dev/null; then echo "PASS tmux_missing_skipped"; exit 0; fi
# shot NAME TERM: the dashboard in a 100x30 pane with that TERM; the pane text in $tmp/NAME.
shot() {
    tmux -L $sock -f /dev/null new-session -d -x 100 -y 30 \
        "cd '$tmp' && TERM='$2' REPAE_DB='$tmp/x.db' '$BIN'; echo \"rc=\$?\"; sleep 30"
    i=0
    while [ $i -lt 30 ]; do
        tmux -L $sock capture-pane -p -J >"$tmp/$1" 2>/dev/null
        grep -q 'rc=' "$tmp/$1" && break
        sleep 0.1; i=$((i + 1))
    done
    tmux -L $sock kill-server 2>/dev/null
}
for t in dumb:cannot.move.the.cursor no-such-term:does.not.know :TERM.is.not.set; do
    term=${t%%:*} want=${t#*:}
    shot "t_$term" "$term"
    if grep -q "rc=2" "$tmp/t_$term" && grep -q "$want" "$tmp/t_$term" && ! grep -q "Error opening terminal" "$tmp/t_$term"; then
        pass "term_${term:-unset}_refused"
    else fail "term_${term:-unset}_refused" "$(grep -v '^$' "$tmp/t_$term" | head -3)"; fi
done

# Launch from a directory without configs/: the checkout's configs/ beside build/repae.
repo_configs=$(cd "$(dirname "$0")/../configs" && pwd)
case $BIN in "$(dirname "$repo_configs")"/*) beside=1 ;; *) beside=0 ;; esac
tmux -L $sock -f /dev/null new-session -d -x 100 -y 30 "cd '$tmp' && TERM=xterm-256color REPAE_DB='$tmp/x.db' '$BIN'; sleep 30"
sleep 1
tmux -L $sock send-keys n
i=0
while [ $i -lt 30 ]; do
    tmux -L $sock capture-pane -p >"$tmp/launch"
    grep -q "Launch" "$tmp/launch" && break
    sleep 0.1; i=$((i + 1))
done
sleep 0.3
tmux -L $sock capture-pane -p >"$tmp/launch"
tmux -L $sock send-keys Escape q
tmux -L $sock kill-server 2>/dev/null
if [ $beside = 1 ]; then
    grep -q "tiny.json" "$tmp/launch" && pass launch_finds_configs_beside_binary \
        || fail launch_finds_configs_beside_binary "$(head -5 "$tmp/launch")"
else
    grep -q "no configs" "$tmp/launch" && pass launch_without_configs_says_so \
        || fail launch_without_configs_says_so "$(head -5 "$tmp/launch")"
fi
