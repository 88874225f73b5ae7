#!/usr/bin/env bash
# Lathe beside llama.cpp on the CPU: the same GGUF files, the same thread count, runs alternating
# (llama.cpp first in odd rounds, Lathe first in even ones) so that a change in the machine's load hits
# both. Prints one table: per model and test, each tool's tokens/s (mean over rounds of each round's
# mean, ± the spread of the round means) and Lathe / llama.cpp.
#
#   tests/perf/compare-llama-cpp.sh [--threads N] [--reps R] [--rounds K] [--build DIR] [MODEL.gguf ...]
#
# Without models: the default model (Q4_1 as shipped), Q8_0 and F16 versions of it and Q4_K_M and Q6_K
# versions of the F16 one, made with llama.cpp's llama-quantize (--allow-requantize), cached in
# ~/.cache/lathe/variants. (SmolLM2's 576-wide rows are not whole K-quant super-blocks, so llama-quantize
# keeps K-quants for ffn_down only: Q4_K_M is mostly Q5_0, Q6_K mostly Q8_0.) llama.cpp's tools
# come from tests/perf/build-llama-cpp.sh (the llama-cpp-python source distribution, cached).
# Tests: pp512 and tg128, as llama-bench's defaults; the full JSON of every run goes to $LATHE_PERF_OUT
# (default /tmp/lathe-perf).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
threads=2 reps=3 rounds=2 build="$root/build"
models=()
while [ $# -gt 0 ]; do
    case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    -h | --help) sed -n 2,16p "$0"; exit 0 ;;
    -*) echo "compare-llama-cpp: unknown option $1" >&2; exit 2 ;;
    *) models+=("$1"); shift ;;
    esac
done
cli="$build/app/cli/lathe-cli"
[ -x "$cli" ] || { echo "compare-llama-cpp: $cli not found (build first, or pass --build)" >&2; exit 1; }
peer="$("$here/build-llama-cpp.sh")"
out="${LATHE_PERF_OUT:-/tmp/lathe-perf}"
mkdir -p "$out"

if [ ${#models[@]} -eq 0 ]; then
    base="${LATHE_DEFAULT_MODEL:-$HOME/.local/share/lathe/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
    [ -f "$base" ] || "$root/installer/fetch-default-model.sh" >/dev/null
    variants="${XDG_CACHE_HOME:-$HOME/.cache}/lathe/variants"
    mkdir -p "$variants"
    models=("$base")
    # Q8_0 and F16 from the shipped file; the K-quant mixes from the F16 one (llama-quantize's usual input).
    for type in Q8_0 F16 Q4_K_M Q6_K; do
        from="$base"
        case "$type" in Q4_K_M | Q6_K) from="$variants/$(basename "${base%.Q4_1.gguf}").F16.gguf" ;; esac
        v="$variants/$(basename "${base%.Q4_1.gguf}").$type.gguf"
        [ -f "$v" ] || "$peer/llama-quantize" --allow-requantize "$from" "$v" "$type" >"$out/quantize-$type.log" 2>&1
        models+=("$v")
    done
fi

# llama.cpp's AMX path (its default where the CPU has AMX-INT8, as Sapphire Rapids does) dies of SIGILL in
# 0.3.36 on the 2-core Xeon VMs here, at a tile instruction in tinygemm_kernel_amx (the process had been
# granted the AMX state; why the worker's tile config is missing was not traced).
# Where that happens the peer runs with --repack 0 (no extra buffer types: its AVX-512 VNNI paths, which
# for Q4_1, Q8_0 and F16 is all --repack would change on x86) and the table says so.
peer_args=()
probe_peer() { # model
    { "$peer/llama-bench" -m "$1" -t "$threads" -p 16 -n 4 -r 1 -o json; } >/dev/null 2>&1 && return
    if "$peer/llama-bench" -m "$1" -t "$threads" -p 16 -n 4 -r 1 --repack 0 -o json >/dev/null 2>&1; then
        peer_args=(--repack 0)
        echo "compare-llama-cpp: llama-bench fails with its defaults here; the peer runs with --repack 0" >&2
    else
        echo "compare-llama-cpp: llama-bench fails on $1 even with --repack 0" >&2; exit 1
    fi
}
run_llama() { # model round
    "$peer/llama-bench" -m "$1" -t "$threads" -p 512 -n 128 -r "$reps" "${peer_args[@]}" -o json \
        >"$out/llama-$(basename "$1")-$2.json" 2>/dev/null
}
run_lathe() { # model round
    "$cli" --db "$out/runs.db" --threads "$threads" --json bench "$1" -p 512 -n 128 -r "$reps" --no-bandwidth \
        >"$out/lathe-$(basename "$1")-$2.json" 2>/dev/null
}

probe_peer "${models[0]}"
for model in "${models[@]}"; do
    for round in $(seq 1 "$rounds"); do
        echo "compare-llama-cpp: $(basename "$model") round $round of $rounds" >&2
        if [ $((round % 2)) -eq 1 ]; then run_llama "$model" "$round"; run_lathe "$model" "$round"
        else run_lathe "$model" "$round"; run_llama "$model" "$round"; fi
    done
done

python3 - "$out" "$rounds" "$threads" "${peer_args[*]:-}" "${models[@]}" <<'EOF'
import json, os, statistics, sys
out, rounds, threads, peer_args, models = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
def spread(values):
    return statistics.stdev(values) if len(values) > 1 else 0.0
print(f"\n{threads} threads, {rounds} alternating rounds; tokens/s as mean of round means ± their sd")
if peer_args:
    print(f"llama-bench ran with {peer_args} (it fails with its defaults on this machine)")
print(f"{'model':<42} {'test':<6} {'llama.cpp':>18} {'Lathe':>18} {'Lathe/llama.cpp':>16}")
for model in models:
    name = os.path.basename(model)
    peer = {"pp512": [], "tg128": []}
    lathe = {"pp512": [], "tg128": []}
    for r in range(1, rounds + 1):
        for entry in json.load(open(f"{out}/llama-{name}-{r}.json")):
            test = "pp512" if entry["n_prompt"] > 0 else "tg128"
            peer[test].append(entry["avg_ts"])
        metrics = json.load(open(f"{out}/lathe-{name}-{r}.json"))["metrics"]
        lathe["pp512"].append(metrics["pp512_tokens_per_s"])
        lathe["tg128"].append(metrics["tg128_tokens_per_s"])
    for test in ("pp512", "tg128"):
        p, l = statistics.mean(peer[test]), statistics.mean(lathe[test])
        print(f"{name:<42} {test:<6} {p:>10.1f} ± {spread(peer[test]):>5.1f} {l:>10.1f} ± {spread(lathe[test]):>5.1f} {l / p:>15.2f}x")
EOF
