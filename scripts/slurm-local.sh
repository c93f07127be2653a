#!/bin/sh
# slurm-local.sh: a one-node Slurm cluster on this machine, entirely inside one directory, to
# run `srun` / `sbatch` / `scancel` against for real (tests/test_mpi_srun.sh, or by hand).
#
#   scripts/slurm-local.sh start DIR   writes DIR/slurm.conf (this node's real CPUs and memory,
#                                      from `slurmd -C`), starts a munged, slurmctld and slurmd
#                                      of its own (own key, socket, ports, state, logs in DIR),
#                                      waits until the node is idle; prints the export to use
#   scripts/slurm-local.sh env DIR     prints `export SLURM_CONF=DIR/slurm.conf`
#   scripts/slurm-local.sh stop DIR    stops those three daemons (by the pids in DIR)
#
# Then: `export SLURM_CONF=DIR/slurm.conf; srun -n 2 build/repae train ...`. Nothing outside
# DIR is written and no system daemon is touched, so it can run beside a real cluster client.
# Needs Debian's slurm-wlm and munge (`apt-get install -y slurm-wlm munge`; Slurm 22.05) and
# root (slurmd starts the tasks as the submitting user). Ports: SLURM_LOCAL_PORT (slurmctld;
# slurmd uses the next one), else two free ones are picked.
set -eu
die() { echo "slurm-local.sh: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: slurm-local.sh start|stop|env DIR"
cmd=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
conf=$dir/slurm.conf

stop_pid() { # FILE: the daemon whose pid it holds, TERM then KILL
    [ -f "$1" ] || return 0
    p=$(cat "$1" 2>/dev/null || true)
    [ -n "$p" ] || return 0
    kill "$p" 2>/dev/null || return 0
    i=0
    while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$p" 2>/dev/null || true
    rm -f "$1"
}

case $cmd in
env) echo "export SLURM_CONF=$conf"; exit 0 ;;
stop)
    stop_pid "$dir/slurmd.pid"
    stop_pid "$dir/slurmctld.pid"
    stop_pid "$dir/munged.pid"
    exit 0 ;;
start) ;;
*) die "unknown command '$cmd': start, stop or env" ;;
esac

for b in munged slurmctld slurmd srun; do
    command -v $b >/dev/null 2>&1 || [ -x /usr/sbin/$b ] ||
        die "no $b: install Slurm and munge first (apt-get install -y slurm-wlm munge)"
done
PATH=$PATH:/usr/sbin
[ "$(id -u)" = 0 ] || die "slurmd must run as root to start tasks: run this as root"

# Two free TCP ports in a row on localhost.
free_port() {
    python3 - "$1" <<'EOF' 2>/dev/null || echo "$1"
import socket, sys
base = int(sys.argv[1])
for p in range(base, base + 2000, 2):
    ok = True
    for q in (p, p + 1):
        s = socket.socket()
        try: s.bind(("127.0.0.1", q))
        except OSError: ok = False
        finally: s.close()
    if ok: print(p); break
EOF
}
port=${SLURM_LOCAL_PORT:-$(free_port 16817)}
node=$(hostname -s)
# This node as slurmd sees it: CPUs, sockets, cores, threads, memory (MB).
hw=$(slurmd -C 2>/dev/null | head -1 | sed 's/^NodeName=[^ ]* //')
[ -n "$hw" ] || die "slurmd -C printed nothing: cannot read this node's CPUs and memory"
mkdir -p "$dir/state" "$dir/spool" "$dir/munge" "$dir/log"
chmod 700 "$dir/munge"

# munge: a key of our own, a socket of our own (slurm.conf's AuthInfo points every Slurm
# program at it).
[ -f "$dir/munge/munge.key" ] || { dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 2>/dev/null; }
chmod 400 "$dir/munge/munge.key"
sock=$dir/munge/munge.socket
stop_pid "$dir/munged.pid"
munged --force --key-file="$dir/munge/munge.key" --socket="$sock" --pid-file="$dir/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" ||
    die "munged did not start: see $dir/log/munged.log"

cat >"$conf" <<EOF
# One-node cluster written by scripts/slurm-local.sh; everything under $dir.
ClusterName=repae-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in a container: track processes by their parents, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# Debian's Open MPI 4.1 joins srun's tasks through PMIx (it has no PMI-2 client).
MpiDefault=pmix
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# scancel and the time limit: SIGTERM (and SIGCONT) to every task, SIGKILL KillWait s later.
KillWait=30
InactiveLimit=0
MinJobAge=30
NodeName=$node NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:2
EOF

export SLURM_CONF=$conf
stop_pid "$dir/slurmd.pid"
stop_pid "$dir/slurmctld.pid"
slurmctld -f "$conf" -i 2>>"$dir/log/slurmctld.err" || die "slurmctld did not start: see $dir/log/slurmctld.log"
slurmd -f "$conf" 2>>"$dir/log/slurmd.err" || die "slurmd did not start: see $dir/log/slurmd.log"
# The node registers within seconds; a node left DOWN by an earlier run is resumed.
i=0
while :; do
    st=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
    case $st in idle*|mix*|alloc*) break ;; down*|drain*) scontrol update nodename="$node" state=resume 2>/dev/null || true ;; esac
    i=$((i + 1))
    [ $i -lt 150 ] || die "node $node not idle after 30 s (state '$st'): see $dir/log/slurmd.log and slurmctld.log"
    sleep 0.2
done
echo "export SLURM_CONF=$conf"
