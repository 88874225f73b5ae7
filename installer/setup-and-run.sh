#!/usr/bin/env bash
# Fresh Debian 12 machine -> Lathe running on the default model: installs the packages, fetches
# SmolLM2-135M-Instruct, builds, and opens the desktop app on it (the terminal chat where there is no display).
set -euo pipefail
cd "$(dirname "$0")/.."
./installer/install-deps.sh
model=$(./installer/fetch-default-model.sh)
./installer/build.sh
# Without a display (ssh, CI) the terminal chat is the way in.
if [[ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" || ! -x ./build/app/gui/lathe ]]; then
  exec ./build/app/cli/lathe-cli chat "$model"
fi
exec ./build/app/gui/lathe "$model" "$@"
