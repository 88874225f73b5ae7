#pragma once
// Hyper-parameters of a Llama-family transformer, read from GGUF metadata or config.json.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lathe {

// How RoPE pairs the dimensions of a head.
enum class RopeStyle {
    Interleaved, // pairs (2i, 2i+1): GGUF "llama" files, whose q/k rows were permuted at conversion
    HalfSplit,   // pairs (i, i + d/2): Hugging Face checkpoints and GGUF "qwen2" (NeoX style)
};

// Llama-3 style frequency scaling ("rope_type": "llama3"); factor 0 means none.
struct RopeLlama3Scaling {
    float factor = 0.0f;
    float lowFreqFactor = 1.0f;
    float highFreqFactor = 4.0f;
    int originalContext = 8192;
};

// How a backend quantizes activations for the integer dot products of block-quantized weights
// (GGUF key `lathe.activation_quantization`; backend/Backend.h setActivationQuantization).
enum class ActivationQuantization {
    PerBlock,     // as ggml: one fp16 scale per 32 activations (absent key; the default)
    PerTokenInt8, // "per_token_int8": one scale per activation row (SmoothQuant W8A8, dynamic per token)
};

// "per_block", "per_token_int8": the GGUF key's values.
std::string_view activationQuantizationName(ActivationQuantization mode);

struct ModelConfig {
    std::string architecture; // "llama", "qwen2", "mistral"
    std::string name;
    int nLayers = 0;
    int nEmbd = 0; // hidden size
    int nHeads = 0;
    int nHeadsKv = 0; // < nHeads for grouped-query attention
    int headDim = 0;  // usually nEmbd / nHeads
    int nFf = 0;      // feed-forward hidden size; the largest layer's when layerFf is set
    // Per-layer feed-forward widths (GGUF `{arch}.feed_forward_length` as an array, e.g. after
    // structured pruning): [nLayers], or empty when every layer has nFf.
    std::vector<int> layerFf;
    int vocabSize = 0;
    int contextLength = 0;
    float rmsEps = 1e-5f;
    float ropeFreqBase = 10000.0f;
    int ropeDims = 0; // dimensions rotated per head (== headDim for Llama)
    RopeStyle ropeStyle = RopeStyle::Interleaved;
    RopeLlama3Scaling ropeLlama3;
    bool tiedEmbeddings = false; // output projection shares token_embd
    bool qkvBias = false;        // Qwen2
    ActivationQuantization activationQuantization = ActivationQuantization::PerBlock;

    // Feed-forward width of a layer (0 <= layer < nLayers).
    int ffOf(int layer) const { return layerFf.empty() ? nFf : layerFf[size_t(layer)]; }

    // Throws lathe::Error (InvalidFile) naming the first inconsistent field.
    void validate() const;
};

} // namespace lathe
