#pragma once
// Random-weight GGUF models with the exact shapes of real ones, so speed can be measured at realistic
// sizes without downloads (`lathe-cli synth`). The file carries a complete Llama configuration and a
// byte-level BPE vocabulary (256 byte tokens, generated merges, the family's special tokens), so it
// loads and tokenizes like the real model; only the weights (and hence the text) are noise.

#include "core/DType.h"
#include "model/ModelConfig.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lathe {

struct SyntheticModelShape {
    ModelConfig config;                           // architecture "llama"; vocabSize, layers, widths, rope
    std::string preTokenizer;                     // "llama-bpe", "smollm"
    std::vector<std::string> specialTokens;       // appended at the end of the vocabulary
    int bosIndex = 0, eosIndex = 1, eotIndex = 2; // indices into specialTokens
};

// Presets: "llama3-8b", "llama3.2-1b", "smollm2-135m"; nullopt for another name.
std::optional<SyntheticModelShape> syntheticModelShape(std::string_view preset);
std::vector<std::string> syntheticModelPresets();

// Writes the model tensor by tensor (memory stays at a few rows whatever the size). dtype: F16, Q8_0
// or Q4_0 for the matrices and the embedding; norms are F32. Throws lathe::Error (InvalidArgument for
// a dtype or shape it cannot write, Io for the file). Returns the bytes written.
uint64_t writeSyntheticModel(const std::filesystem::path& path, const SyntheticModelShape& shape, DType dtype,
                             uint64_t seed = 1);

} // namespace lathe
