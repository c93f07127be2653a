#!/bin/sh
# test_mpi_routes.sh: 2 ranks against one process (within 1e-5 relative, every loss and both
# gradient norms at every step) on the gradient routes test_mpi.sh's plain run does not take,
# each of which hands the SiT's gradients to the wire at a different backward
# (train/trainer_dist.h): the score alignment (a second SiT backward after the diffusion one),
# and REPA with the diffusion gradient into the VAE (a tokens-only SiT backward after a full
# one). A piece of gradient sent before it was final, or never, shows as a 2-rank run that
# drifts from the one-process run (grad_norm_sit first).
. "$(dirname "$0")/mpi_lib.sh"
export REPAE_HOME="$tmp/home" # the REPA target encoder's default place
S="--set train.steps=10 --set train.log_every=1 --set train.threads=1 --set vae.latent_bn=true
   --set sit.num_classes=5 --set train.sample_every=0 --set train.ckpt_every=0 --set sample.n=1
   --set diffusion.grad_to_vae=true"
"$BIN" encoder train --dataset shapes --steps 2 --batch 8 --probe-n 100 >"$tmp/err" 2>&1
check repa_encoder_trained $? "repae encoder train failed"
for route in score repa; do
    R="$S --set align.kind=$route"
    [ $route = repa ] && R="$R --set align.projector_dim=16"
    "$BIN" --db "$tmp/$route.db" train "$CONFIGS/tiny.json" --name one $R >"$tmp/err" 2>&1 &&
        timeout 300 $MPIRUN -x ASAN_OPTIONS -np 2 "$BIN" --db "$tmp/$route.db" train "$CONFIGS/tiny.json" --name two $R \
            >"$tmp/err" 2>&1 &&
        "$BIN" --db "$tmp/$route.db" export one --csv "$tmp/$route-one.csv" 2>"$tmp/err" &&
        "$BIN" --db "$tmp/$route.db" export two --csv "$tmp/$route-two.csv" 2>"$tmp/err"
    check "${route}_runs" $? "a run or its export failed"
    compare "$tmp/$route-one.csv" "$tmp/$route-two.csv" 1e-5 0 10 >"$tmp/err" 2>&1
    check "${route}_2_ranks_follow_1_process" $? "$(head -3 "$tmp/err")"
done
