#!/usr/bin/env bash
# Fresh Debian 12 machine -> Lathe built and tested: installs the packages, fetches the default
# model (the `model` tests use it), builds, runs every CTest suite, then a short bounded fuzzing run
# of each file parser under AddressSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
./installer/install-deps.sh
LATHE_DEFAULT_MODEL=$(./installer/fetch-default-model.sh)
export LATHE_DEFAULT_MODEL
./installer/build.sh
ctest --test-dir build -j"$(nproc)" --output-on-failure --timeout 900
if [ -x tests/fuzz/run-fuzz.sh ]; then
  tests/fuzz/run-fuzz.sh "${LATHE_FUZZ_SECONDS:-20}"
fi
