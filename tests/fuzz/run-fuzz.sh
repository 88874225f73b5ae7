#!/usr/bin/env bash
# Configures the fuzz build (clang, libFuzzer, ASan + UBSan) in its own folder, builds the targets,
# runs the file-parser test suites under the sanitizers, writes a seed corpus from valid tiny files and
# runs each fuzz target for N seconds.
# Usage: tests/fuzz/run-fuzz.sh [SECONDS=30] [BUILD_DIR=<repo>/build-fuzz]
# Exit status is non-zero if any target reports a finding (crash input saved under BUILD_DIR/fuzz-findings).
set -euo pipefail

seconds=${1:-30}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${2:-$root/build-fuzz}

if [[ ! -f $build/build.ninja ]]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLATHE_FUZZ=ON -DLATHE_SANITIZE=ON -DLATHE_TESTS=ON -DLATHE_GUI=OFF -DLATHE_CUDA=OFF
fi
# The same sanitizer build runs the parser suites first: crafted hostile files must give a clean
# lathe::Error under AddressSanitizer + UBSan, not a memory error.
parser_suites=(TestGgufHostile TestGgufReader TestSafetensors TestModelLoader)
cmake --build "$build" --target FuzzGguf FuzzSafetensors MakeFuzzSeeds "${parser_suites[@]}"
ctest --test-dir "$build" --output-on-failure -R "^($(IFS='|'; echo "${parser_suites[*]}"))\$"

corpus=$build/fuzz-corpus
"$build/tests/fuzz/MakeFuzzSeeds" "$corpus"
for target in FuzzGguf FuzzSafetensors; do
  findings=$build/fuzz-findings/$target
  mkdir -p "$findings"
  echo "== $target: ${seconds}s"
  "$build/tests/fuzz/$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$findings/" "$corpus/$target"
done
