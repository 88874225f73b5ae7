#!/usr/bin/env bash
# What each compression method costs and gains on one model: builds every variant of issue 7's table
# with lathe-cli (quantize / prune), each evaluated against its parent on the same text (perplexity,
# KL(parent || variant), top-1 agreement) and measured (tg tokens/s, peak RSS), then prints one table.
#
#   tests/perf/compression-table.sh [--model M.gguf] [--threads N] [--ctx C] [--chunks K]
#                                    [--calib-tokens T] [--only NAME[,NAME...]] [--build DIR]
#
# Defaults: the default model, 2 threads, ctx 512, every chunk of the default text, 2048 calibration
# tokens. Variants go to $LATHE_PERF_OUT (default /tmp/lathe-compression) with each run's JSON beside
# them; every run is also recorded in the run store (--db, default $LATHE_PERF_OUT/runs.db).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
model="${LATHE_DEFAULT_MODEL:-$HOME/.local/share/lathe/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
threads=2 ctx=512 chunks=0 calib=2048 only="" build="$root/build"
while [ $# -gt 0 ]; do
    case "$1" in
    --model) model="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --ctx) ctx="$2"; shift 2 ;;
    --chunks) chunks="$2"; shift 2 ;;
    --calib-tokens) calib="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    -h | --help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "compression-table: unknown option $1" >&2; exit 2 ;;
    esac
done
cli="$build/app/cli/lathe-cli"
[ -x "$cli" ] || { echo "compression-table: $cli not found (build first, or pass --build)" >&2; exit 1; }
[ -f "$model" ] || "$root/installer/fetch-default-model.sh" >/dev/null
out="${LATHE_PERF_OUT:-/tmp/lathe-compression}"
mkdir -p "$out"

# name | verb and flags
variants=(
    "rtn-w8|quantize --method rtn --bits 8 --group 0"
    "rtn-w4-g128|quantize --method rtn --bits 4 --group 128"
    "awq-w4-g128|quantize --method awq --bits 4 --group 128"
    "gptq-w4-g128|quantize --method gptq --bits 4 --group 128"
    "rtn-w3-g128|quantize --method rtn --bits 3 --group 128"
    "awq-w3-g128|quantize --method awq --bits 3 --group 128"
    "gptq-w3-g128|quantize --method gptq --bits 3 --group 128"
    "smoothquant-w8a8|quantize --method smoothquant --alpha 0.5"
    "magnitude-50|prune --method magnitude --sparsity 0.5"
    "wanda-50|prune --method wanda --sparsity 0.5"
    "sparsegpt-50|prune --method sparsegpt --sparsity 0.5"
    "magnitude-2of4|prune --method magnitude --pattern 2:4"
    "wanda-2of4|prune --method wanda --pattern 2:4"
    "sparsegpt-2of4|prune --method sparsegpt --pattern 2:4"
    "ffn-channels-25|prune --method channels --sparsity 0.25"
    "attn-heads-33-query|prune --method heads --unit query --sparsity 0.34"
    "attn-heads-33-group|prune --method heads --unit group --sparsity 0.34"
)
for entry in "${variants[@]}"; do
    name="${entry%%|*}" args="${entry#*|}"
    if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
    echo "== $name: lathe-cli $args" >&2
    # shellcheck disable=SC2086
    "$cli" --json --threads "$threads" --db "$out/runs.db" $args "$model" -o "$out/$name.gguf" \
        -c "$ctx" --chunks "$chunks" --calib-tokens "$calib" > "$out/$name.json"
done

python3 - "$out" "$model" "$ctx" "$chunks" "$threads" <<'PY'
import json, os, sys
out, model, ctx, chunks, threads = sys.argv[1:]
rows = []
for f in sorted(os.listdir(out)):
    if f.endswith(".json"):
        with open(os.path.join(out, f)) as fh:
            rows.append((f[:-5], json.load(fh)))
if not rows:
    sys.exit("no results")
order = ["rtn-w8", "rtn-w4-g128", "awq-w4-g128", "gptq-w4-g128", "rtn-w3-g128", "awq-w3-g128",
         "gptq-w3-g128", "smoothquant-w8a8", "magnitude-50", "wanda-50", "sparsegpt-50", "magnitude-2of4",
         "wanda-2of4", "sparsegpt-2of4", "ffn-channels-25", "attn-heads-33-query", "attn-heads-33-group"]
rows.sort(key=lambda r: order.index(r[0]) if r[0] in order else len(order))
first = rows[0][1]
mib = lambda b: b / 2**20
print(f"{os.path.basename(model)}; ctx {ctx}, chunks {chunks or 'all'}, {threads} threads; "
      "KL = KL(parent || variant) in nats; tok/s = tg128 mean ± sd; peak RSS of the process while decoding "
      "(parent: median of its runs)")
print(f"{'variant':<19} {'size MiB':>9} {'PPL':>16} {'KL':>8} {'top-1':>7} {'tok/s':>14} {'peak RSS MiB':>13}")
# The parent is measured beside every variant: its speed is the mean ± sd of those measurements.
base = [r["base_tokens_per_second"] for _, r in rows]
mean = sum(base) / len(base)
sd = (sum((v - mean) ** 2 for v in base) / (len(base) - 1)) ** 0.5 if len(base) > 1 else 0.0
rss = sorted(r["base_peak_rss_bytes"] for _, r in rows)[len(rows) // 2]
print(f"{'parent':<19} {mib(first['input_bytes']):>9.1f} {first['base_perplexity']:>16.4f} {'':>8} {'':>7} "
      f"{f'{mean:.1f} ± {sd:.1f}':>14} {mib(rss):>13.1f}")
for name, r in rows:
    ppl = f"{r['perplexity']:.4f} ± {r['perplexity_error']:.3f}"
    tps = f"{r['tokens_per_second']:.1f} ± {r['tokens_per_second_sd']:.1f}"
    print(f"{name:<19} {mib(r['output_bytes']):>9.1f} {ppl:>16} {r['kl_divergence']:>8.4f} "
          f"{100 * r['top1_agreement']:>6.1f}% {tps:>14} {mib(r['peak_rss_bytes']):>13.1f}")
PY
