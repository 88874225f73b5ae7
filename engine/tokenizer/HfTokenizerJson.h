#pragma once
// Reads a Hugging Face tokenizer.json (+ tokenizer_config.json) into a TokenizerSpec, for model
// folders that have no GGUF metadata. Supports BPE models: byte-level (GPT-2 style pre-tokenizer)
// and SentencePiece-style (Metaspace / "▁" with byte fallback). Scores for the latter are derived
// from merge ranks (earlier merge, higher score), which gives the same merge order.

#include "tokenizer/TokenizerSpec.h"

#include <string>

namespace lathe {

// Throws lathe::Error (InvalidFile) naming the field at fault; Unsupported for other model types.
TokenizerSpec tokenizerSpecFromHuggingFace(const std::string& tokenizerJsonText,
                                           const std::string& tokenizerConfigJsonText);

} // namespace lathe
