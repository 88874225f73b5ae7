#!/usr/bin/env bash
# Fresh Debian 12 machine -> Lathe running on the default model: installs the packages, fetches
# SmolLM2-135M-Instruct, builds, and starts a chat with it in the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
./installer/install-deps.sh
model=$(./installer/fetch-default-model.sh)
./installer/build.sh
exec ./build/app/cli/lathe-cli chat "$model" "$@"
