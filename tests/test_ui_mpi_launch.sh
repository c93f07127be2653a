#!/bin/sh
# test_ui_mpi_launch.sh: the Launch screen starts a run on 2 processes through mpirun, as a
# person does it in tmux (keys in with send-keys, the screen out with capture-pane): the run
# shows live with its 2 processes (their CPU and memory summed on the Run screen), its console
# says how it was started, and quitting the dashboard leaves it training to the end (it runs in
# a session of its own). Without mpirun the Launch screen says how to install it. Needs tmux, mpirun and $BUILD/repae.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
SOCK=repae-mpi-test-$$
tmp=$(mktemp -d)
cleanup() {
  tmux -L "$SOCK" kill-server 2>/dev/null
  # the detached launcher of a failed run would outlive the test: by its pid, from the store
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
if ! command -v tmux >/dev/null; then echo "FAIL tmux_available: install tmux (make deps-test)"; exit 1; fi
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
if ! command -v mpirun >/dev/null 2>&1; then
  echo "FAIL mpirun_installed: no mpirun on PATH: install Open MPI with 'sudo apt-get install -y openmpi-bin libopenmpi-dev'"
  exit 1
fi
export LC_ALL=C.UTF-8 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
T() { tmux -L "$SOCK" "$@"; }
snap() { T capture-pane -p -t "$1" > "$tmp/screen" 2>/dev/null; }
wait_for() {
  n=$(( ${3:-5} * 10 ))
  while [ "$n" -gt 0 ]; do snap "$1"; grep -qF -- "$2" "$tmp/screen" && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; sed 's/^/    | /' "$tmp/screen"; fails=$((fails + 1)); }
expect() { if wait_for "$1" "$3" "${4:-5}"; then pass "$2"; else fail "$2" "'$3' not on screen"; fi; }
start() { # name env-and-command...
  name=$1; shift
  T new-session -d -s "$name" -x 140 -y 40 -c "$PWD" "env $* ; echo EXITED \$?; sleep 30"
}
# The Launch screen on tiny.json: from the top of the sorted list down to it.
to_tiny() {
  T send-keys -t "$1" n
  wait_for "$1" "tiny.json" 5
  i=0; while [ $i -lt 20 ]; do T send-keys -t "$1" k; i=$((i + 1)); done
  idx=$(ls configs/*.json | sort | grep -n '/tiny.json$' | cut -d: -f1)
  i=1; while [ "$i" -lt "$idx" ]; do T send-keys -t "$1" j; i=$((i + 1)); done
}
T -f /dev/null new-session -d -s keep -x 80 -y 24 "sleep 300"
DB=$tmp/mpi.db

# 1. two processes: the run shows live, and outlives the dashboard.
start dash "REPAE_DB=$DB" TERM=xterm-256color "$BIN"
expect dash opens "No runs yet."
to_tiny dash
T send-keys -t dash o; T send-keys -t dash "train.steps=400" Enter
T send-keys -t dash o; T send-keys -t dash "train.threads=1" Enter
T send-keys -t dash o; T send-keys -t dash "train.sample_every=100" Enter
T send-keys -t dash N; T send-keys -t dash "np2" Enter
T send-keys -t dash p; T send-keys -t dash C-u "2" Enter
expect dash launch_takes_a_process_count "processes: 2 (mpirun)"
T send-keys -t dash Enter
expect dash run_listed "np2" 20
expect dash run_trains_live "running" 20
pid=$("$BIN" --db "$DB" show np2 2>/dev/null | awk '/^pid/ {print $2}')
T send-keys -t dash Enter
expect dash run_screen_says_2_processes "2 processes" 20
T send-keys -t dash o
expect dash console_says_how_it_started "started by the dashboard" 10
expect dash process_line_sums_the_2_ranks "(rank 0 of 2), 2 ranks here summed" 10
T send-keys -t dash Escape
T send-keys -t dash q
expect dash quits_without_asking "EXITED 0" 5
st=$("$BIN" --db "$DB" runs 2>/dev/null | awk '$2 == "np2" {print $3}')
if [ "$st" = running ]; then pass run_survives_the_dashboard; else fail run_survives_the_dashboard "status '$st' after quitting"; fi
n=0; while [ $n -lt 120 ]; do
  st=$("$BIN" --db "$DB" runs 2>/dev/null | awk '$2 == "np2" {print $3}')
  [ "$st" = running ] || break; sleep 1; n=$((n + 1))
done
if [ "$st" = done ]; then pass run_trains_to_the_end; else fail run_trains_to_the_end "status '$st'"; "$BIN" --db "$DB" show np2; fi
log=$(ls "$tmp"/mpi.db-runs/*/mpirun.log 2>/dev/null | head -1)
if [ -n "$log" ] && grep -q "data parallel over 2 processes" "$log"; then pass launcher_log_in_the_run_dir
else fail launcher_log_in_the_run_dir "no mpirun.log with the run's output: $(ls -R "$tmp" | head -20)"; fi
pid=

# 2. a slow start (mpirun's start-up on a loaded machine): the dashboard does not wait for it
# frozen; the status line says what is starting, keys work meanwhile, and the run is selected
# once it shows. The launcher here sleeps 6 s before it becomes mpirun.
cat > "$tmp/slow-mpirun" <<EOF2
#!/bin/sh
sleep 6
exec $(command -v mpirun) "\$@"
EOF2
chmod +x "$tmp/slow-mpirun"
start slow "REPAE_DB=$tmp/slow.db" "REPAE_MPIRUN=$tmp/slow-mpirun" TERM=xterm-256color "$BIN"
expect slow slow_opens "No runs yet."
to_tiny slow
T send-keys -t slow o; T send-keys -t slow "train.steps=30" Enter
T send-keys -t slow o; T send-keys -t slow "train.threads=1" Enter
T send-keys -t slow N; T send-keys -t slow "slow2" Enter
T send-keys -t slow p; T send-keys -t slow C-u "2" Enter
expect slow slow_takes_2_processes "processes: 2 (mpirun)"
T send-keys -t slow Enter '?'
# a frozen UI (the old 3 s wait after the spawn) shows neither within 2 s
expect slow keys_work_while_it_starts "everywhere" 2
T send-keys -t slow Escape
expect slow starting_said_at_once "mpirun is starting 'slow2' on 2 processes" 2
expect slow run_selected_once_up "is up on its processes" 40
snap slow
if grep -q "slow2.*running\|slow2.*done" "$tmp/screen" && ! grep -q "mpirun is starting" "$tmp/screen"; then pass starting_line_gone_run_listed
else fail starting_line_gone_run_listed "the run is not listed, or the status line stays"; fi
pid=$("$BIN" --db "$tmp/slow.db" show slow2 2>/dev/null | awk '/^pid/ {print $2}')
n=0; while [ $n -lt 60 ]; do
  st=$("$BIN" --db "$tmp/slow.db" runs 2>/dev/null | awk '$2 == "slow2" {print $3}')
  [ "$st" = running ] || break; sleep 1; n=$((n + 1))
done
pid=
T send-keys -t slow q

# 3. no mpirun: the Launch screen says how to get it, and starts nothing.
mkdir -p "$tmp/empty-path"
start nompi "REPAE_DB=$tmp/nompi.db" TERM=xterm-256color "PATH=$tmp/empty-path" "$BIN"
expect nompi opens_without_mpirun "No runs yet."
to_tiny nompi
T send-keys -t nompi p; T send-keys -t nompi C-u "2" Enter
T send-keys -t nompi Enter
expect nompi missing_mpirun_said "mpirun not found on PATH" 5
T send-keys -t nompi Escape
expect nompi nothing_started "No runs yet." 5
[ "$fails" -eq 0 ]
