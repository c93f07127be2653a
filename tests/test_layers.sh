#!/bin/sh
# test_layers.sh: scripts/check_layers.sh passes on the tree and fails on each planted
# forbidden include (a copy of the sources in a temporary folder; the tree is not touched).
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() { sh "$top/scripts/check_layers.sh" "$1" > "$tmp/out" 2>&1; }
if check "$top"; then echo "PASS layers_hold_in_tree"; else echo "FAIL layers_hold_in_tree:"; cat "$tmp/out"; fi
# plant FILE LINE NAME EXPECT: a copy of the tree with LINE appended to FILE must fail, naming FILE.
plant() {
  rm -rf "$tmp/t"; mkdir -p "$tmp/t"; cp -r "$top/src" "$top/store" "$top/ui" "$tmp/t/"
  printf '%s\n' "$2" >> "$tmp/t/$1"
  if check "$tmp/t"; then echo "FAIL $3: the check passed with $2 in $1"
  elif grep -q "^$1:" "$tmp/out"; then echo "PASS $3"
  else echo "FAIL $3: the check failed without naming $1:"; cat "$tmp/out"; fi
}
plant src/ops/gemm.c '#include "store/store.h"' core_must_not_reach_store
plant src/train/trainer.c '#include "ui/app.h"' core_must_not_reach_ui
plant src/model/vae.c '#include "app/run_hooks.h"' core_must_not_reach_app
plant src/eval/frechet.c '#include "cli/cli.h"' core_must_not_reach_cli
plant src/base/util.c '#include "ops/ops.h"' base_is_the_bottom
plant store/store.c '#include "train/train.h"' store_only_on_base
plant ui/chart.c '#include "cli/cli.h"' ui_never_cli
plant ui/chart.c '#include "model/model.h"' ui_never_core_internals
plant src/app/run_hooks.c '#include "cli/cli.h"' app_never_cli
plant src/ops/conv.c '#include "gemm.h"' includes_name_their_folder
