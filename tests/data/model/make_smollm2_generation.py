#!/usr/bin/env python3
"""Writes the llama.cpp reference for TestSmolLM2Forward: for each prompt, the prompt's token ids (as
llama.cpp tokenizes them), the greedy continuation (argmax of the logits, up to 64 tokens, stopping
after an end-of-sequence token) and the logits at the last prompt position.

Run with the llama-cpp-python build in /tmp/lathe-ref/venv:
    /tmp/lathe-ref/venv/bin/python tests/data/model/make_smollm2_generation.py [MODEL.gguf]

llama.cpp is set up to be as close to float arithmetic as it allows: F32 K/V cache, flash attention off,
one prompt batch then one token per decode call (as Lathe's test runs it), 2 threads. Its CPU matmul still
quantizes activations to 8 bits for quantized weights (Lathe's CPU backend does the same).
Outputs (beside this script): smollm2_generation.json and smollm2_generation.logits.bin (little-endian
float32, one row of vocab_size values per prompt, in prompt order).
"""
import hashlib
import json
import os
import sys

import llama_cpp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.expanduser("~/.local/share/lathe/models/SmolLM2-135M-Instruct.Q4_1.gguf")
MAX_NEW_TOKENS = 64
THREADS = 2
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

PLAIN = [
    ("story", "Once upon a time, in a small village at the edge of a great forest, there lived"),
    ("history", "The history of the Roman Empire begins with"),
    ("recipe", "Here is a simple recipe for homemade bread. First,"),
    ("science", "Photosynthesis is the process by which plants"),
    ("code", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"),
]
CHAT = [
    ("chat_ocean", "Write a short poem about the ocean."),
    ("chat_gravity", "Explain how gravity works to a ten year old."),
    ("chat_exercise", "Give me five tips for staying healthy and explain each one."),
    ("chat_capital", "What is the capital of France? Tell me about its history."),
    ("chat_python", "How do I read a file line by line in Python? Show an example."),
]


def chatml(user):
    """SmolLM2's chat template rendered for one user message (default system prompt, generation prompt)."""
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    settings = dict(n_ctx=512, n_batch=512, n_ubatch=512, n_threads=THREADS, n_threads_batch=THREADS,
                    type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32, flash_attn=False)
    llm = llama_cpp.Llama(model, verbose=False, **settings)
    vocab = llm.n_vocab()
    eos = {llm.token_eos()}
    add_bos = llm.metadata.get("tokenizer.ggml.add_bos_token") == "true"

    prompts, logit_rows = [], []
    for kind, items in (("plain", PLAIN), ("chat", CHAT)):
        for name, text in items:
            full = text if kind == "plain" else chatml(text)
            tokens = llm.tokenize(full.encode(), add_bos=add_bos, special=(kind == "chat"))
            llm.reset()
            llm.eval(tokens)
            logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(vocab,)).copy()
            logit_rows.append(logits.astype("<f4"))
            generated = []
            while len(generated) < MAX_NEW_TOKENS:
                token = int(np.argmax(logits))
                generated.append(token)
                if token in eos:
                    break
                llm.eval([token])
                logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(vocab,))
            stopped = generated[-1] in eos
            text_out = llm.detokenize(generated).decode("utf-8", errors="replace")
            print(f"{name}: {len(tokens)} prompt tokens, {len(generated)} generated"
                  f"{' (EOS)' if stopped else ''}: {text_out[:60]!r}")
            prompts.append(dict(name=name, kind=kind, text=text, rendered=full, prompt_tokens=tokens,
                                generated_tokens=generated, stopped_at_eos=stopped,
                                generated_text=text_out))

    logits_file = "smollm2_generation.logits.bin"
    np.stack(logit_rows).astype("<f4").tofile(os.path.join(HERE, logits_file))
    out = dict(
        model=os.path.basename(model), model_sha256=sha256(model), vocab_size=vocab,
        reference=f"llama-cpp-python {llama_cpp.__version__}",
        settings=dict(settings, type_k="f32", type_v="f32", greedy="argmax of the logits (first on ties)",
                      max_new_tokens=MAX_NEW_TOKENS, add_bos=add_bos, eos_tokens=sorted(eos),
                      decode="prompt in one batch, then one token per call",
                      chat_tokenize="special=True", plain_tokenize="special=False"),
        logits_file=logits_file, logits_layout="float32 little-endian [prompt][vocab_size], last prompt position",
        prompts=prompts)
    with open(os.path.join(HERE, "smollm2_generation.json"), "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
