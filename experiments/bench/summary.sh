#!/bin/sh
# summary.sh [DIR]: issue 15's table from the results-*.txt that run.sh wrote in DIR
# (experiments/bench): each figure with its target, the command that measured it, and the load
# average around it (a figure taken at a load well above 0 is marked "loaded").
dir=${1:-$(dirname "$0")}
f() { [ -f "$dir/results-$1.txt" ] && cat "$dir/results-$1.txt"; }
load() { f "$1" | sed -n 's/^# .*load before: \([0-9. ]*\).*/\1/p' | head -1; }
after() { f "$1" | sed -n 's/^# load after: //p' | tail -1; }
mark() { # "loaded" when the 1-minute load before or after exceeds 0.5
  [ -f "$dir/results-$1.txt" ] || { echo "not run"; return; }
  b=$(load "$1" | cut -d' ' -f1); a=$(after "$1" | cut -d' ' -f1)
  echo "${b:-?} ${a:-?}" | awk '{ print (($1 + 0 > 0.5 || $2 + 0 > 0.5) ? "loaded (" $1 " -> " $2 ")" : "quiet (" $1 " -> " $2 ")") }'
}
grab() { f "$1" | grep -m1 "$2" | sed 's/|/\\|/g'; }
echo "# Issue 15 figures ($(date -u +%Y-%m-%dT%H:%MZ), from $dir/results-*.txt)"
echo
echo "| figure | measured | target | command | machine |"
echo "|---|---|---|---|---|"
s=step
echo "| fp32 step vs PyTorch at its best | $(grab $s '^repae/pytorch-best' | sed 's/.*ratio: //') ($(grab $s '^strongest PyTorch' | sed 's/strongest PyTorch: //')) | >= 1.5x | \`build/bench/bench_step\` | $(mark $s) |"
echo "| bf16 step vs PyTorch fp32 at its best | $(grab $s '^repae-bf/pytorch-best' | sed 's/.*ratio: //') | >= 2.5x | \`build/bench/bench_step\` | $(mark $s) |"
echo "| repae step (median) | $(grab $s '^repae  *median' | sed 's/.*median of [0-9]*: //') | | \`build/bench/bench_step\` | $(mark $s) |"
echo "| repae bf16 step (median) | $(grab $s '^repae-bf *median' | sed 's/.*median of [0-9]*: //') | | \`build/bench/bench_step\` | $(mark $s) |"
for p in pt-spin pt-pasv pt-av512; do
  echo "| PyTorch $p step (median) | $(grab $s "^$p *median" | sed 's/.*median of [0-9]*: //') | | \`build/bench/bench_step\` | $(mark $s) |"
done
echo "| peak memory repae / PyTorch best | $(grab $s '^peak RSS' | sed 's/peak RSS repae\/pytorch-best: //') | <= 0.5x | \`build/bench/bench_step\` | $(mark $s) |"
s=sample
echo "| sampling fp32 vs PyTorch at its best | $(grab $s '^repae/pytorch-best sampling' | sed 's/.*throughput: //') | >= 1.5x | \`build/bench/bench_sample\` | $(mark $s) |"
echo "| sampling bf16 vs PyTorch at its best | $(grab $s '^repae-bf/pytorch-best sampling' | sed 's/.*throughput: //') | | \`build/bench/bench_sample\` | $(mark $s) |"
for p in repae repae-bf pt-spin pt-pasv pt-av512; do
  echo "| sampling $p (median of the runs) | $(grab $s "^$p *median" | sed 's/.*median of [0-9]*: //') | | \`build/bench/bench_sample\` | $(mark $s) |"
done
s=eval
echo "| evaluation (FD on 5000 samples) vs PyTorch at its best | $(grab $s '^repae/pytorch-best evaluation' | sed 's/.*throughput: //') | | \`build/bench/bench_eval\` | $(mark $s) |"
for p in repae pt-spin pt-pasv pt-av512; do
  echo "| evaluation $p (median: features of 2 x 5000 images + FD) | $(grab $s "^$p *median" | sed 's/.*median of [0-9]*: //') | | \`build/bench/bench_eval\` | $(mark $s) |"
done
s=isa
echo "| one core's matrix instructions (fp32 FMA zmm / vdpbf16ps / AMX, GFLOP/s) | $(grab $s '^fp32 FMA zmm' | sed 's/.*) *//') / $(grab $s '^bf16 dot zmm' | sed 's/.*) *//') / $(grab $s '^bf16 AMX' | sed 's/.*) *//'); $(grab $s '^vdpbf16ps / best' | sed 's/ (.*//') | | \`build/bench/bench_isa\` | $(mark $s) |"
s=amx
echo "| AMX prototype GEMM with conversion, 2 threads (not used by repae yet), GFLOP/s against the own fp32 | $(grab $s '^M1024 N576 K192' | awk '{ printf "SiT qkv %s against %s (%s)", $(NF-4), $(NF-3), $(NF-1) }'); $(grab $s '^M128 N4096' | awk '{ printf "conv 128@8 %s against %s (%s)", $(NF-4), $(NF-3), $(NF-1) }') | | \`build/bench/bench_amx\` | $(mark $s) |"
for s in ops ops-bf16 ops-1thread-cpu ops-1thread-cpu-bf16; do
  pk=$(f $s | grep -m1 "own bf16 peak" || f $s | grep -m1 "own peak")
  rows=$(f $s | awk -F'|' '/ mm \|/ { n++; split($2, a, " "); split($3, b, " "); fo = a[4] + 0; bo = b[4] + 0; if (fo >= 70) okf++; if (bo >= 70) okb++ } END { printf "%d of %d forward, %d of %d backward rows at >= 70%% of the own peak", okf, n, okb, n }')
  args=$(f $s | sed -n '1s/^# \(.*\) on [^ ]*, .*/\1/p')
  echo "| matrix work, $s: $(echo "$pk" | sed 's/^ *//; s/(best of the above, %own below) *//') | $rows | >= 70% of own peak | \`$args\` | $(mark $s) |"
done
for s in profile-fp32 profile-bf16; do
  mat=$(f $s | awk '/%  matrix/ { sub(/%/, "", $1); m += $1 } END { printf "%.1f%%", m }')
  rest=$(f $s | grep '^ *[0-9.]*%  ' | grep -v 'matrix' | head -4 | sed 's/^ *//; s/  / /' | tr '\n' ';' | sed 's/;$//; s/;/; /g')
  args=$(f $s | sed -n '1s/^# \(.*\) on [^ ]*, .*/\1/p')
  echo "| share of a step that is matrix work ($s) | $mat (largest others: $rest) | | \`$args\` | $(mark $s) |"
done
for s in regions-fp32 regions-bf16; do
  [ -f "$dir/results-$s.txt" ] || continue
  line=$(f $s | sed -n 's/^ *of a \(.*\)$/\1/p' | head -1)
  args=$(f $s | sed -n '1s/^# \(.*\) on [^ ]*, .*/\1/p')
  echo "| wall time by parallel region ($s) | of a $line | | \`$args\` | $(mark $s) |"
done
