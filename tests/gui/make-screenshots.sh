#!/usr/bin/env bash
# Screenshots of every page of the desktop app under Xvfb, at 1280x800 and 1920x1080, with real
# content: the app loads the default model, answers one chat message, runs a short benchmark, builds an
# RTN int8 variant on the Optimize page (written into the temporary folder), then grabs each page (Runs
# with the two newest runs compared) and quits.
#   tests/gui/make-screenshots.sh [OUT_DIR] [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/build/screenshots}"
build="${2:-$root/build}"
app="$build/app/gui/lathe"
model="${LATHE_DEFAULT_MODEL:-${XDG_DATA_HOME:-$HOME/.local/share}/lathe/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
[[ -x "$app" ]] || { echo "no app at $app: build with -DLATHE_GUI=ON first" >&2; exit 1; }
[[ -f "$model" ]] || { echo "no default model at $model: run installer/fetch-default-model.sh" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "xvfb-run is missing: apt-get install xvfb" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
# A fresh store and settings so the pictures do not depend on this machine's history.
export XDG_CONFIG_HOME="$work/config"
export QT_QPA_PLATFORM=xcb
xvfb-run -a -s "-screen 0 1920x1080x24" "$app" "$model" --db "$work/lathe.db" \
  --send "Explain in three short bullet points what a lathe is used for, then give a one-line Python example." \
  --bench --optimize "RTN int8" --optimize-dir "$work/variants" --screenshots "$out" --sizes 1280x800,1920x1080 --quit
ls -1 "$out"/*.png
