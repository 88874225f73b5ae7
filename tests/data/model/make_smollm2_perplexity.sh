#!/usr/bin/env bash
# Reference perplexities of the default model on resources/text/gpl-3.0.txt from llama.cpp's
# llama-perplexity (built from the llama-cpp-python 0.3.36 source distribution by
# tests/perf/build-llama-cpp.sh), for TestPerplexitySmolLM2:
#   default: llama-perplexity's own settings (flash attention auto, F16 KV cache, 2048-token batches);
#   exact:   the settings Lathe's CPU path reproduces bit for bit (no flash attention, F32 KV cache,
#            one chunk per batch).
# Usage: tests/data/model/make_smollm2_perplexity.sh > tests/data/model/smollm2_perplexity.json
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
peer="$("$root/tests/perf/build-llama-cpp.sh")"
model="${LATHE_DEFAULT_MODEL:-$HOME/.local/share/lathe/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
text="$root/resources/text/gpl-3.0.txt"
ctx=128 chunks=16
ppl() { "$peer/llama-perplexity" -m "$model" -f "$text" -c $ctx --chunks $chunks -t 2 "$@" 2>&1 |
    sed -n 's/.*Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/\1 \2/p'; }
read -r defaultPpl defaultErr < <(ppl)
read -r exactPpl exactErr < <(ppl -fa off -ctk f32 -ctv f32 -b $ctx)
cat <<JSON
{
  "source": "llama-perplexity from llama-cpp-python 0.3.36, -c $ctx --chunks $chunks -t 2",
  "text": "resources/text/gpl-3.0.txt",
  "ctx": $ctx,
  "chunks": $chunks,
  "default": {"ppl": $defaultPpl, "error": $defaultErr},
  "exact": {"ppl": $exactPpl, "error": $exactErr, "flags": "-fa off -ctk f32 -ctv f32 -b $ctx"}
}
JSON
