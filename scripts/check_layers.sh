#!/bin/sh
# check_layers.sh [ROOT]: every #include "..." in the product must go down the layers.
#   core:  base <- ops <- model <- eval <- train;  data sits on base, below model
#   store: base only              ui: base only (never the core's internals, app or cli)
#   app:   everything but cli     cli: everything
# Includes name their folder ("ops/ops.h", "store/store.h"), so each side's layer is the first
# path component. Prints every forbidden include as FILE:LINE and exits 1; `make test` runs it.
root=${1:-.}
cd "$root" || exit 2
find src store ui -name '*.[ch]' | sort | xargs awk '
BEGIN {
  ok["base"] = " "; ok["ops"] = " base "; ok["data"] = " base "
  ok["model"] = " base ops data "
  ok["eval"] = " base ops model data "; ok["train"] = " base ops model data eval "
  ok["store"] = " base "; ok["ui"] = " base "
  ok["app"] = " base ops model data train eval store ui "
  ok["cli"] = " base ops model data train eval store ui app "
}
FNR == 1 {
  n = split(FILENAME, p, "/")
  from = (p[1] == "src") ? (n >= 3 ? p[2] : "") : p[1]
  if (!(from in ok)) { printf "%s: not inside a layer folder (src/LAYER/, store/, ui/)\n", FILENAME; bad = 1 }
}
/^[ \t]*#[ \t]*include[ \t]*"/ {
  inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)
  if (index(inc, "/") == 0) { printf "%s:%d: \"%s\" does not name its folder (write \"LAYER/%s\")\n", FILENAME, FNR, inc, inc; bad = 1; next }
  to = inc; sub(/\/.*/, "", to)
  if (to != from && index(ok[from], " " to " ") == 0) {
    printf "%s:%d: %s -> %s (\"%s\") runs against the layers\n", FILENAME, FNR, from, to, inc; bad = 1
  }
}
END { exit bad }'
