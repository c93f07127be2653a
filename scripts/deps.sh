#!/bin/sh
# deps.sh: make sure the Debian packages repae builds and tests with are installed.
# Installs what is missing when run as root (or through sudo without a password);
# otherwise prints the exact command and fails.
#   usage: scripts/deps.sh [build|test|bench|refs|study]
set -e
need="build-essential pkg-config libncurses-dev libsqlite3-dev libcjson-dev libopenblas-openmp-dev libsixel-dev zlib1g-dev libpng-dev libopenmpi-dev openmpi-bin dataset-fashion-mnist"
if [ "${1:-build}" = test ]; then
  # tmux drives the dashboard tests; xvfb/xterm/xdotool/imagemagick take screenshots.
  need="$need tmux xvfb xterm xdotool imagemagick"
fi
if [ "${1:-build}" = bench ] || [ "${1:-build}" = refs ]; then
  # The PyTorch side of the step benchmark and of the reference files; scipy for the FD reference.
  need="$need python3-torch python3-scipy"
fi
if [ "${1:-build}" = study ]; then
  # The studies under experiments/: jq reads `repae runs --json`, matplotlib draws the plots.
  need="$need jq python3-matplotlib"
fi
missing=""
for p in $need; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "repae: missing Debian packages:$missing" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
else
  echo "repae: run as root, or install them with:" >&2
  echo "    sudo apt-get install -y$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt (a second make, the system's updates) may hold dpkg's lock: wait for it, up to
# 10 minutes, instead of failing.
APT="$SUDO apt-get -o DPkg::Lock::Timeout=600"
$APT install -y -q $missing >&2 || { $APT update -q >&2 && $APT install -y -q $missing >&2; } || {
  echo "repae: could not install:$missing (see apt-get's messages above)" >&2
  exit 1
}
