#!/usr/bin/env bash
# Fresh Debian 12 machine -> Lathe built and tested: installs the packages, fetches the default
# model (the `model` tests use it), builds, runs every CTest suite, runs the file-parser suites again
# under AddressSanitizer + UBSan, then a short bounded fuzzing run of each parser.
set -euo pipefail
cd "$(dirname "$0")/.."
./installer/install-deps.sh
LATHE_DEFAULT_MODEL=$(./installer/fetch-default-model.sh)
export LATHE_DEFAULT_MODEL
./installer/build.sh
ctest --test-dir build -j"$(nproc)" --output-on-failure
# Hostile model files must give a clean lathe::Error, never memory errors: rerun the parser suites
# in a sanitizer build (only those targets are built there).
parser_suites=(TestGgufHostile TestGgufReader TestSafetensors TestModelLoader)
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLATHE_SANITIZE=ON -DLATHE_GUI=OFF \
  -DLATHE_CUDA=OFF >/dev/null
cmake --build build-asan -j"$(nproc)" --target "${parser_suites[@]}"
ctest --test-dir build-asan --output-on-failure -R "^($(IFS='|'; echo "${parser_suites[*]}"))\$"
if [ -x tests/fuzz/run-fuzz.sh ]; then
  tests/fuzz/run-fuzz.sh "${LATHE_FUZZ_SECONDS:-20}"
fi
