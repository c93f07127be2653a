#!/bin/sh
# test_ui_signals.sh: runs launched from the dashboard are threads of it, so closing the
# terminal (SIGHUP), SIGTERM or Ctrl-C must stop them with a checkpoint, as `repae train` does,
# and never leave them `interrupted` with nothing to resume from. Each case launches a long run
# from the Launch screen in a private tmux server, waits for it to train, sends the signal, and
# checks the run's status and its checkpoint folder.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
SOCK=repae-sig-$$
tmp=$(mktemp -d)
cleanup() { tmux -L "$SOCK" kill-server 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
if ! command -v tmux >/dev/null; then echo "FAIL tmux_available: install tmux (make deps-test)"; exit 1; fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
T() { tmux -L "$SOCK" "$@"; }
snap() { T capture-pane -p -t "$1" > "$tmp/screen" 2>/dev/null; }
wait_for() { n=$(( ${3:-5} * 10 )); while [ "$n" -gt 0 ]; do snap "$1"; grep -qF -- "$2" "$tmp/screen" && return 0; sleep 0.1; n=$((n - 1)); done; return 1; }
T -f /dev/null new-session -d -s keep -x 80 -y 24 "sleep 600"

# case NAME SIGNAL: SIGNAL "hangup" kills the tmux session (the pty closes, SIGHUP), else kill -SIG the pid
case_() {
  name=$1 sig=$2 db=$tmp/$1.db
  # A configs/ with tiny alone (the Launch screen would preselect first-run.json): seconds a run.
  mkdir -p "$tmp/launchdir/configs" && cp configs/tiny.json "$tmp/launchdir/configs/"
  T new-session -d -s "$name" -x 100 -y 30 -c "$tmp/launchdir" "env REPAE_DB=$db TERM=xterm-256color $BIN; sleep 30"
  wait_for "$name" "No runs yet." 10 || { echo "FAIL ${name}_dashboard_opens"; return; }
  T send-keys -t "$name" n; wait_for "$name" "configs/tiny.json" 5
  # Each prompt is waited for before typing into it: on a loaded machine keys can outrun it.
  T send-keys -t "$name" o; wait_for "$name" "override key=value" 10
  T send-keys -t "$name" -l "train.steps=100000"; T send-keys -t "$name" Enter
  wait_for "$name" "train.steps=100000" 10
  T send-keys -t "$name" N; sleep 0.5; T send-keys -t "$name" -l "$name"; T send-keys -t "$name" Enter
  wait_for "$name" "name: $name" 10
  T send-keys -t "$name" Enter
  wait_for "$name" "running" 20 || { echo "FAIL ${name}_run_launched"; sed 's/^/    | /' "$tmp/screen"; return; }
  # train a little (up to 30 s under sanitizers) until a step is logged
  i=0; while [ $i -lt 60 ]; do
    st=$("$BIN" --db "$db" runs 2>/dev/null | awk -v n="$name" '$2 == n {print $4}')
    case $st in 0/*|"") ;; *) break ;; esac
    sleep 0.5; i=$((i + 1))
  done
  pid=$(pgrep -f "^$BIN\$" -n -P "$(T list-panes -t "$name" -F '#{pane_pid}')" 2>/dev/null)
  [ -n "$pid" ] || pid=$(T list-panes -t "$name" -F '#{pane_pid}' | xargs -I{} pgrep -P {} | head -1)
  if [ "$sig" = hangup ]; then T kill-session -t "$name"; else kill -s "$sig" "$pid"; fi
  # the dashboard exits once the checkpoint is written
  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 120 ]; do sleep 0.25; i=$((i + 1)); done
  if kill -0 "$pid" 2>/dev/null; then echo "FAIL ${name}_exits: the dashboard (pid $pid) still runs 30 s after SIG$sig"; kill -9 "$pid"; return; fi
  line=$("$BIN" --db "$db" runs 2>/dev/null | awk -v n="$name" '$2 == n')
  id=$(echo "$line" | awk '{print $1}')
  case $line in
    *stopped*) echo "PASS ${name}_run_stopped" ;;
    *) echo "FAIL ${name}_run_stopped: after SIG$sig the run reads: $line" ;;
  esac
  ck=$(ls "$tmp/$name.db-runs/$id/ckpt" "$tmp/runs/$id/ckpt" 2>/dev/null | grep -v '^/' | grep '^[0-9]*$' | tail -1)
  if [ -n "$ck" ]; then echo "PASS ${name}_checkpoint_written"; else
    echo "FAIL ${name}_checkpoint_written: no checkpoint for run $id: $(ls -R "$tmp" | head -20 | tr '\n' ' ')"; fi
}
case_ hup hangup
case_ term TERM
case_ int INT
