#!/usr/bin/env bash
# Fresh Debian 12 machine -> Lathe built and tested: installs the packages, fetches the default
# model (the `model` tests use it), builds, runs every CTest suite, then builds the sanitizer (clang,
# ASan + UBSan + libFuzzer) configuration, runs the file-parser suites under it and fuzzes each parser
# for a short, bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
./installer/install-deps.sh
LATHE_DEFAULT_MODEL=$(./installer/fetch-default-model.sh)
export LATHE_DEFAULT_MODEL
./installer/build.sh
ctest --test-dir build -j"$(nproc)" --output-on-failure
if [ -x tests/fuzz/run-fuzz.sh ]; then
  tests/fuzz/run-fuzz.sh "${LATHE_FUZZ_SECONDS:-20}"
fi
