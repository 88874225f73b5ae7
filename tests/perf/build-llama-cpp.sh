#!/usr/bin/env bash
# Builds llama.cpp's tools (llama-bench, llama-completion, llama-quantize, llama-perplexity) from the source
# distribution of llama-cpp-python on PyPI — the peer Lathe is measured against. Cached: a second run
# with the same version does nothing. Prints the folder holding the binaries on stdout.
#   LLAMA_CPP_PYTHON_VERSION  sdist version (default 0.3.36)
#   LATHE_PEER_DIR            cache folder (default ~/.cache/lathe/peer)
#   LLAMA_CPP_CMAKE_ARGS      extra cmake flags (e.g. -DGGML_CUDA=ON on the GPU machine)
set -euo pipefail
version="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
cache="${LATHE_PEER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lathe/peer}"
src="$cache/llama-cpp-python-$version"
build="$src/build-tools"
stamp="$build/.built-${LLAMA_CPP_CMAKE_ARGS:-cpu}"
stamp="${stamp// /_}"

if [ -f "$stamp" ]; then echo "$build/bin"; exit 0; fi
mkdir -p "$cache"
if [ ! -d "$src/vendor/llama.cpp" ]; then
  echo "build-llama-cpp: downloading llama-cpp-python==$version (source distribution)" >&2
  python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python -d "$cache" \
    "llama-cpp-python==$version" >&2
  tar -xzf "$cache/llama_cpp_python-$version.tar.gz" -C "$cache"
  [ -d "$cache/llama_cpp_python-$version" ] && mv "$cache/llama_cpp_python-$version" "$src"
fi
echo "build-llama-cpp: building llama.cpp tools in $build" >&2
# shellcheck disable=SC2086
cmake -S "$src/vendor/llama.cpp" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DBUILD_SHARED_LIBS=OFF ${LLAMA_CPP_CMAKE_ARGS:-} >&2
cmake --build "$build" -j"$(nproc)" --target llama-bench llama-completion llama-quantize llama-perplexity >&2
touch "$stamp"
echo "$build/bin"
