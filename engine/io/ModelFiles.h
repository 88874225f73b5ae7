#pragma once
// A model as it lies on disk, opened and validated: configuration, tokenizer data and a view of
// every weight tensor (kept in its stored format, inside memory-mapped files owned here).
// Tensor names follow GGUF's convention whatever the source: token_embd.weight, output_norm.weight,
// output.weight, blk.N.{attn_norm,attn_q,attn_k,attn_v,attn_output,ffn_norm,ffn_gate,ffn_up,ffn_down}.weight
// and blk.N.attn_{q,k,v}.bias.

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/TensorView.h"
#include "model/ModelConfig.h"
#include "tokenizer/TokenizerSpec.h"

namespace lathe {

class MappedFile;

enum class ModelFormat { Gguf, HuggingFaceFolder };

struct ModelFiles {
    ModelFormat format = ModelFormat::Gguf;
    std::filesystem::path path;  // the .gguf file or the model folder
    uint64_t totalBytes = 0;     // bytes on disk of all weight files
    ModelConfig config;
    TokenizerSpec tokenizer;
    std::map<std::string, TensorView> tensors;
    std::vector<std::shared_ptr<MappedFile>> mappings; // keep the tensor bytes alive
    std::vector<std::unique_ptr<uint8_t[]>> ownedBuffers; // tensors made at load (e.g. converted dtypes)

    const TensorView& tensor(const std::string& name) const; // throws InvalidFile if missing
    const TensorView* findTensor(const std::string& name) const;
};

// Opens a .gguf file or a Hugging Face folder (config.json + *.safetensors + tokenizer.json).
// Throws lathe::Error with a message naming the file and the field at fault.
ModelFiles openModelFiles(const std::filesystem::path& path);

// True when `path` is a regular file starting with the GGUF magic (reads 4 bytes; never throws).
bool looksLikeGguf(const std::filesystem::path& path);

} // namespace lathe
