#!/usr/bin/env bash
# Verifies and benchmarks the CUDA paths on a lent GPU machine (no Qt, no registries there).
# Built here with `-DLATHE_GUI=OFF -DLATHE_TESTS=OFF -DLATHE_CUDA=ON -DLATHE_CUDA_ARCHS=90-real`, then
# carried in carry/ (ignored): carry/bin (lathe-cli, the gpu suites), carry/lib (spdlog, fmt, pcre2,
# sqlite3), carry/llama-src.tar.xz (llama.cpp from the llama-cpp-python sdist, trimmed to what
# llama-bench needs), carry/model.a|b (the default model in two halves: one call carries 64 MiB).
# Work that must survive between calls on the same warm machine goes to .devwork/ (ignored).
#   tests/gpu/device-session.sh verify   suites, compute-sanitizer, synthetic parity and benches, llama.cpp build
#   tests/gpu/device-session.sh memcheck compute-sanitizer memcheck on TestCudaOps; unpacks llama-bench
#   tests/gpu/device-session.sh stash    keeps the model's first half on the machine for `model`
#   tests/gpu/device-session.sh model    real-model perplexity, parity cpu vs cuda:0, bench beside llama.cpp
#   tests/gpu/device-session.sh tune     the gpu suites, then decode benches on synthetic 8B, 1B and 135M models
#   tests/gpu/device-session.sh profile  Nsight Compute sections of the mat-vec kernels in 8B Q4_0 and F16 decode
#   tests/gpu/device-session.sh steptimes  every kernel's time in one decode step (ncu, caches kept), 135M Q8_0 and 8B Q4_0
#   tests/gpu/device-session.sh ab VAR   the gpu suites, then decode benches with VAR=0 and VAR=1 in turn (a switch's A/B)
set -u
phase="${1:-verify}"
root="$(pwd)"
export LD_LIBRARY_PATH="$root/carry/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
bin="$root/carry/bin"
work="$root/carry/work" # carry/ is ignored by .gitignore, so it stays between calls on a warm machine
out="${OUT:-$work/out}"
mkdir -p "$work" "$out"
cli="$bin/lathe-cli --db $work/runs.db"
step() { echo; echo "=== $* ($(date +%T))"; }

greedy_parity() { # model prompt tokens
    local model="$1" prompt="$2" n="$3"
    $cli --device cpu --json generate "$model" -p "$prompt" -n "$n" --greedy >"$work/cpu.json" 2>/dev/null
    $cli --device cuda:0 --json generate "$model" -p "$prompt" -n "$n" --greedy >"$work/gpu.json" 2>"$work/gpu.err"
    python3 - "$work/cpu.json" "$work/gpu.json" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))["tokens"]; b = json.load(open(sys.argv[2]))["tokens"]
same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
print(f"parity: {same}/{len(a)} tokens equal (cpu {len(a)}, cuda {len(b)})")
EOF
    tail -2 "$work/gpu.err"
}

llama_bench() { # model args...
    local model="$1"; shift
    local exe="$work/llama/b/bin/llama-bench"
    if [ ! -x "$exe" ] && [ -f carry/peer/llama-bench-cuda-sm90.xz ]; then # built on an earlier machine
        mkdir -p "$work/llama/b/bin" && xz -dc carry/peer/llama-bench-cuda-sm90.xz >"$exe" && chmod +x "$exe"
    fi
    [ -x "$exe" ] || { echo "llama-bench not built"; return; }
    "$exe" -m "$model" -ngl 99 "$@" 2>&1 | grep -E "^\||error|failed" || true
}

suites_and_decode_models() { # the gpu suites, then the synthetic models the decode benches use
    step TestCudaOps; timeout 120 "$bin/TestCudaOps" 2>&1 | tee "$out/cudaops.log" | grep -E "FAIL|PASS|case"
    step TestCudaForward; timeout 200 "$bin/TestCudaForward" 2>&1 | tee "$out/cudaforward.log" | tail -2
    $cli synth llama3-8b --type q4_0 -o "$work/l8b-q4_0.gguf" >/dev/null &
    $cli synth llama3.2-1b --type q4_0 -o "$work/l1b-q4_0.gguf" >/dev/null &
    $cli synth smollm2-135m --type q8_0 -o "$work/smol-q8_0.gguf" >/dev/null
    wait
}

build_llama() { # llama.cpp's llama-bench with CUDA for sm_90, once per warm machine
    [ -x "$work/llama/b/bin/llama-bench" ] && return 0
    mkdir -p "$work/llama" && tar -xJf carry/llama-src.tar.xz -C "$work/llama" && cd "$work/llama" &&
        cmake -S . -B b -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DGGML_NATIVE=ON \
            -DCMAKE_CUDA_ARCHITECTURES=90-real -DGGML_CUDA_NCCL=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
            -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
            -DBUILD_SHARED_LIBS=OFF && cmake --build b -j 12 --target llama-bench
}

if [ "$phase" = verify ]; then
    step machine
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv
    nvcc --version | tail -1; g++ --version | head -1; cmake --version | head -1
    if [ -f carry/llama-src.tar.xz ]; then
        step "llama.cpp CUDA build (background)"
        build_llama >"$out/llama-build.log" 2>&1 &
    fi
    step devices; $cli devices
    step TestCudaHostLogic; "$bin/TestCudaHostLogic" 2>&1 | tail -3
    step TestCudaOps; timeout 120 "$bin/TestCudaOps" 2>&1 | tee "$out/cudaops.log" | grep -E "FAIL|PASS|case"
    step TestCudaForward; timeout 200 "$bin/TestCudaForward" 2>&1 | tee "$out/cudaforward.log" | tail -25
    step "compute-sanitizer memcheck"
    for t in TestCudaOps TestCudaForward; do
        timeout 200 compute-sanitizer --tool memcheck --leak-check full "$bin/$t" >"$out/memcheck-$t.log" 2>&1
        echo "$t rc=$?"; grep -E "ERROR SUMMARY|LEAK SUMMARY|Invalid|error" "$out/memcheck-$t.log" | head -8
    done
    step "compute-sanitizer racecheck"
    timeout 150 compute-sanitizer --tool racecheck "$bin/TestCudaOps" >"$out/racecheck.log" 2>&1
    echo "rc=$?"; grep -E "RACECHECK SUMMARY|ERROR SUMMARY" "$out/racecheck.log" | head -3
    echo "hazards outside cuBLAS:"; grep -E "hazard" "$out/racecheck.log" | grep -v -E "nvjet|cublas|gemm" | head -5
    step "synthetic smollm2 q8_0: greedy parity cpu vs cuda:0"
    $cli synth smollm2-135m --type q8_0 -o "$work/smol-q8_0.gguf" >/dev/null
    greedy_parity "$work/smol-q8_0.gguf" "The quick brown fox jumps over" 48
    for t in f16 q4_0; do
        $cli synth llama3.2-1b --type $t -o "$work/l1b-$t.gguf" >/dev/null
        step "synthetic llama3.2-1b $t: parity and bench"
        greedy_parity "$work/l1b-$t.gguf" "Once upon a time" 24
        timeout 120 $cli --device cuda:0 bench "$work/l1b-$t.gguf" -p 512 -n 128 -r 3 2>&1 | tail -14
    done
    for t in q4_0 f16; do
        step "synthetic llama3-8b $t: bench beside llama.cpp"
        $cli synth llama3-8b --type $t -o "$work/l8b-$t.gguf" >/dev/null
        timeout 200 $cli --device cuda:0 bench "$work/l8b-$t.gguf" -p 512 -n 128 -r 3 2>&1 | tail -9
        llama_bench "$work/l8b-$t.gguf" -p 512 -n 128 -r 3
        rm -f "$work/l8b-$t.gguf"
    done
    step "llama.cpp on the synthetic llama3.2-1b (why it refuses)"
    "$work/llama/b/bin/llama-bench" -m "$work/l1b-q4_0.gguf" -ngl 99 -p 0 -n 16 -r 1 2>&1 | grep -v "^llama_model_loader: - kv\|^llama_model_loader: - type" | tail -12
fi

# A call carries 64 MiB: the tools (carry/bin, carry/lib, carry/peer) in one call, the model's halves in
# two more, each within the machine's 30 s of warmth after the last: memcheck, stash, model.
if [ "$phase" = memcheck ]; then # also unpacks llama-bench from carry/peer for the model phase
    mkdir -p "$work/llama/b/bin" && xz -dc carry/peer/llama-bench-cuda-sm90.xz >"$work/llama/b/bin/llama-bench" &&
        chmod +x "$work/llama/b/bin/llama-bench"
    step "compute-sanitizer memcheck"
    timeout 150 compute-sanitizer --tool memcheck --leak-check full "$bin/TestCudaOps" >"$out/memcheck.log" 2>&1
    echo "TestCudaOps rc=$?"; grep -E "ERROR SUMMARY|LEAK SUMMARY|Invalid" "$out/memcheck.log" | head -8
fi

if [ "$phase" = stash ]; then cp carry/model.a "$work/model.a" && echo "model.a kept"; fi

if [ "$phase" = model ]; then # carries model.b; model.a from this call or from `stash` on the same machine
    model="$work/smollm2.gguf"
    first=carry/model.a; [ -f "$first" ] || first="$work/model.a"
    cat "$first" carry/model.b >"$model"
    sha256sum "$model"
    step "SmolLM2 Q4_1: perplexity on cuda:0 (8 chunks of 512; the CPU and llama.cpp give 18.4026)"
    $cli --device cuda:0 eval "$model" --text resources/text/gpl-3.0.txt -c 512 --chunks 8 2>&1 | tail -3
    step "SmolLM2 Q4_1: cuda:0 scored against the cpu backend (teacher-forced: KL, top-1 agreement)"
    $cli --device cuda:0 eval "$model" --text resources/text/gpl-3.0.txt -c 512 --chunks 8 --base-device cpu 2>&1 |
        tail -3
    step "SmolLM2 Q4_1: greedy parity cpu vs cuda:0"
    greedy_parity "$model" "The capital of France is" 64
    greedy_parity "$model" "def fibonacci(n):" 64
    step "SmolLM2 bench cuda:0"; $cli --device cuda:0 bench "$model" -p 512 -n 128 -r 3 2>&1 | tail -14
    step "llama-bench SmolLM2"; llama_bench "$model" -p 512 -n 128 -r 3
fi

if [ "$phase" = profile ]; then # Nsight Compute on the single-token mat-vec kernels of synthetic 8B decode
    $cli synth llama3-8b --type q4_0 -o "$work/l8b-q4_0.gguf" >/dev/null &
    $cli synth llama3-8b --type f16 -o "$work/l8b-f16.gguf" >/dev/null
    wait
    for m in l8b-q4_0 l8b-f16; do
        step "ncu $m"
        LATHE_CUDA_GRAPHS=0 timeout 200 ncu --clock-control none --section SpeedOfLight --section Occupancy \
            --section MemoryWorkloadAnalysis --section WarpStateStats -k regex:matvec --launch-skip 140 \
            --launch-count 4 $cli --device cuda:0 generate "$work/$m.gguf" -p "hello there" -n 3 --greedy \
            >"$out/ncu-$m.txt" 2>&1
        grep -E "matvec|Duration|Memory Throughput|DRAM Throughput|Achieved Occupancy|Theoretical Occupancy|Registers|Stall|One or More|No Eligible|Active Warps" \
            "$out/ncu-$m.txt" | head -60
    done
fi

if [ "$phase" = tune ]; then
    suites_and_decode_models
    for m in l8b-q4_0 l1b-q4_0 smol-q8_0; do
        printf "%-10s " $m
        $cli --device cuda:0 bench "$work/$m.gguf" -p 512 -n 128 -r 3 2>&1 | grep -E "^pp|^tg|roofline" | tr -s ' ' | tr '\n' ' '
        echo
    done
fi

if [ "$phase" = ab ]; then # tests/gpu/device-session.sh ab LATHE_CUDA_PDL: one switch, off and on in turn
    var="${2:?name the environment variable to switch}"
    suites_and_decode_models
    for round in 1 2; do
        for m in l8b-q4_0 l1b-q4_0 smol-q8_0; do
            for v in 0 1; do
                printf "%-10s %s=%s " $m "$var" $v
                env "$var=$v" $cli --device cuda:0 bench "$work/$m.gguf" -p 512 -n 128 -r 3 2>&1 |
                    grep -E "^pp|^tg|roofline" | tr -s ' ' | tr '\n' ' '
                echo
            done
        done
    done
fi

if [ "$phase" = steptimes ]; then # per-kernel times of one whole decode step, summed per kernel name
    $cli synth smollm2-135m --type q8_0 -o "$work/smol-q8_0.gguf" >/dev/null &
    $cli synth llama3-8b --type q4_0 -o "$work/l8b-q4_0.gguf" >/dev/null
    wait
    # launches per step: 9 per layer plus the embedding, first and final norms, logits; skip 8 steps
    for spec in smol-q8_0:276 l8b-q4_0:294; do
        m="${spec%%:*}" perstep="${spec##*:}"
        step "kernel times, one decode step of $m"
        LATHE_CUDA_GRAPHS=0 timeout 280 ncu --clock-control none --cache-control none --csv \
            --metrics gpu__time_duration.sum,dram__bytes_read.sum --launch-skip $((perstep * 8)) \
            --launch-count "$perstep" $cli --device cuda:0 generate "$work/$m.gguf" -p "hello there" -n 12 \
            --greedy >"$out/steptimes-$m.csv" 2>"$out/steptimes-$m.err"
        python3 tests/gpu/kernel-times.py "$out/steptimes-$m.csv"
        $cli --device cuda:0 bench "$work/$m.gguf" -p 0 -n 128 -r 3 2>&1 | grep -E "^tg|latency"
    done
fi
