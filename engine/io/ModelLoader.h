#pragma once
// The pieces openModelFiles (io/ModelFiles.h) is built from, exposed for tools and tests: reading a
// ModelConfig and TokenizerSpec from GGUF metadata or a Hugging Face config.json, mapping Hugging
// Face tensor names to GGUF's, and checking that a model has every tensor its config needs.

#include "io/ModelFiles.h"

#include <filesystem>
#include <string>

namespace lathe {

class GgufFile;

// From `general.architecture` and `<arch>.*` keys (llama, mistral, qwen2). Needs the tensors to
// detect qkvBias and tied embeddings. Does not validate; openModelFiles does.
ModelConfig modelConfigFromGguf(const GgufFile& gguf);
// From `tokenizer.ggml.*` and `tokenizer.chat_template`.
TokenizerSpec tokenizerSpecFromGguf(const GgufFile& gguf);

// From the text of a Hugging Face config.json; `name` stands for the file in errors.
ModelConfig modelConfigFromHfConfig(const std::string& configJsonText, const std::string& name);
// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; "" for names Lathe does not use.
std::string ggufNameForHfTensor(const std::string& hfName);
// Opens a Hugging Face folder (config.json, model.safetensors or its index, tokenizer.json).
ModelFiles openHuggingFaceFolder(const std::filesystem::path& folder);

// Throws lathe::Error (InvalidFile) naming the first missing tensor, wrong shape (expected vs found)
// or undecodable dtype.
void checkModelTensors(const ModelFiles& files);

} // namespace lathe
