#pragma once
// What decoding strategies need from a model: run a Batch against a KV cache and return logits.
// Transformer implements it; tests may substitute a scripted model.

#include <vector>

#include "model/Batch.h"
#include "model/KvCache.h"
#include "model/ModelConfig.h"

namespace lathe {

class LanguageModel {
public:
    virtual ~LanguageModel() = default;
    virtual const ModelConfig& config() const = 0;
    // Appends every batch row to its sequence in `cache` and writes the logits of batch.logitRows,
    // row-major [batch.logitRows.size()][config().vocabSize], into `logits` (resized as needed).
    virtual void forward(const Batch& batch, KvCache& cache, std::vector<float>& logits) = 0;
};

} // namespace lathe
