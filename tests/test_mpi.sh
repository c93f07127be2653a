#!/bin/sh
# test_mpi.sh: data-parallel training over Open MPI reproduces the one-process run. 2 ranks
# (mpirun over TCP on loopback, the transport used between machines) against one process, 20
# steps of the tiny config with the latent BatchNorm (synchronised across ranks) and class
# labels (class dropout drawn by global sample index) and the GAN term from step 5 (the
# discriminator's SyncBatchNorm and gradients reduced too): every logged loss within 1e-5 relative,
# and every weight of the final checkpoint within 1e-5 absolute + 1e-4 relative (the runs
# differ only in the order the gradient sums are added). A plain `repae train` must not need
# a launcher.
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "$BUILD/repae")" 2>/dev/null && pwd)/repae
CONFIGS=$(cd "$(dirname "$0")/../configs" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; [ -f "$tmp/err" ] && sed 's/^/    | /' "$tmp/err" | tail -20; }
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }
if [ ! -x "$BIN" ]; then echo "FAIL binary_built: no $BIN"; exit 1; fi
if ! command -v mpirun >/dev/null 2>&1; then
  echo "FAIL mpirun_installed: no mpirun on PATH: install Open MPI with 'sudo apt-get install -y openmpi-bin libopenmpi-dev' (or run 'make test', which installs it)"
  exit 1
fi
S="--set train.steps=20 --set train.log_every=1 --set train.threads=1 --set vae.latent_bn=true
   --set sit.num_classes=5 --set train.sample_every=0 --set train.ckpt_every=0 --set sample.n=1
   --set loss.w_gan=0.1 --set loss.gan_start=5 --set disc.ch=8"
MPIRUN="mpirun --oversubscribe --allow-run-as-root --mca btl tcp,self --mca btl_tcp_if_include lo"

# No launcher: world size 1, no MPI at all (an MPI_Init here would start or look for a daemon).
env -u OMPI_COMM_WORLD_SIZE -u PMIX_RANK -u SLURM_PROCID "$BIN" --db "$tmp/one.db" train "$CONFIGS/tiny.json" \
    --name one $S 2>"$tmp/err" && ! grep -q "data parallel" "$tmp/err"
check plain_train_needs_no_launcher $? "exit or message of the one-process run"

# Under make asan, LeakSanitizer reports what Open MPI's own plugins (PMIx, the btl modules)
# leave allocated at exit, in modules without symbols: not repae's, so the MPI processes run
# without the leak check (every single-process test keeps it, and so does the run above).
timeout 300 env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" $MPIRUN -x ASAN_OPTIONS -np 2 "$BIN" --db "$tmp/two.db" train "$CONFIGS/tiny.json" --name two $S >"$tmp/err" 2>&1 &&
  grep -q "data parallel over 2 processes" "$tmp/err"
check mpirun_2_ranks_trains $? "mpirun -np 2 repae train failed"

"$BIN" --db "$tmp/one.db" export one --csv "$tmp/one.csv" 2>"$tmp/err" &&
  "$BIN" --db "$tmp/two.db" export two --csv "$tmp/two.csv" 2>>"$tmp/err"
check export_both $? "repae export --csv"

# Every loss column at every step: |a - b| <= 1e-5 * max(|a|, |b|) (+1e-12 for exact zeros); a
# metric the recipe does not log (align without alignment) is absent from both files.
# Columns by name in each file: the 2-rank run also logs comm_share and comm_mb_per_step.
awk -F, 'NR == FNR { if (FNR == 1) for (i = 1; i <= NF; i++) col[$i] = i; else row[$1] = $0; n1++; next }
  FNR == 1 { for (i = 1; i <= NF; i++) col2[$i] = i; next }
  { split(row[$1], a, ","); n2++
    split("recon kl diffusion align smooth total latent_std latent_sstd grad_norm_vae grad_norm_sit gan_g gan_d logits_real logits_fake grad_norm_disc", ks, " ")
    for (k in ks) { if (!(ks[k] in col) && !(ks[k] in col2)) continue # not logged by this recipe (align without alignment)
      if (!(ks[k] in col) || !(ks[k] in col2)) { printf "column %s in one file only\n", ks[k]; bad++; continue }
      x = a[col[ks[k]]] + 0; y = $(col2[ks[k]]) + 0; d = x - y; if (d < 0) d = -d
      m = (x < 0 ? -x : x); if ((y < 0 ? -y : y) > m) m = (y < 0 ? -y : y)
      if (d > 1e-5 * m + 1e-12) { printf "step %s %s: %s vs %s\n", $1, ks[k], x, y; bad++ } } }
  END { if (n2 != 20 || n1 != 21) { printf "rows: %d vs %d\n", n1 - 1, n2; exit 1 } exit bad > 0 }' \
  "$tmp/one.csv" "$tmp/two.csv" >"$tmp/err" 2>&1
check losses_equal_1e-5_every_step $? "$(head -3 "$tmp/err")"

# The final checkpoint's weights, tensor by tensor.
c1=$(ls -d "$tmp"/one.db-runs/*/ckpt/00000020 2>/dev/null | head -1)
c2=$(ls -d "$tmp"/two.db-runs/*/ckpt/00000020 2>/dev/null | head -1)
[ -n "$c1" ] && [ -n "$c2" ] && python3 - "$c1" "$c2" >"$tmp/err" 2>&1 <<'PY'
import json, struct, sys
def load(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n]); h.pop('__metadata__', None)
    return {k: struct.unpack('<%df' % ((v['data_offsets'][1] - v['data_offsets'][0]) // 4),
            b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]]) for k, v in h.items() if v['dtype'] == 'F32'}
worst = -1
for f in ('vae', 'sit', 'sit_ema', 'disc'):
    a, b = load('%s/%s.safetensors' % (sys.argv[1], f)), load('%s/%s.safetensors' % (sys.argv[2], f))
    assert a.keys() == b.keys() and a, f + ': tensor names differ'
    worst = max(worst, max(abs(x - y) - 1e-4 * max(abs(x), abs(y)) for k in a for x, y in zip(a[k], b[k])))
print('worst |a - b| beyond 1e-4 relative: %g' % worst)
sys.exit(0 if worst <= 1e-5 else 1)
PY
check params_equal_1e-5_abs_1e-4_rel $? "$(cat "$tmp/err")"

# A global batch that does not split evenly is refused with what to do.
timeout 120 $MPIRUN -np 2 "$BIN" --db "$tmp/odd.db" train "$CONFIGS/tiny.json" --name odd $S --set train.batch_size=7 \
    >"$tmp/err" 2>&1
[ $? -ne 0 ] && grep -q "does not divide evenly over 2 processes" "$tmp/err"
check uneven_batch_refused $? "expected a refusal naming train.batch_size"
