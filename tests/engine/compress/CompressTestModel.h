#pragma once
// What the compression suites share: a tiny synthetic model on disk and its logits on the CPU backend's
// float reference path.

#include "TinySyntheticShape.h"
#include "backend/cpu/CpuBackend.h"
#include "io/ModelFiles.h"
#include "io/SyntheticModel.h"
#include "model/Batch.h"
#include "model/KvCache.h"
#include "model/Transformer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

namespace lathe::test {

// The tiny shape; withoutGqa gives every query head its own KV head (attn_output's scales then fold).
inline std::filesystem::path writeTinyModel(const std::filesystem::path& path, bool withoutGqa = false,
                                            DType dtype = DType::F16) {
    SyntheticModelShape shape = tinySyntheticShape();
    if (withoutGqa) shape.config.nHeadsKv = shape.config.nHeads;
    writeSyntheticModel(path, shape, dtype, 7);
    return path;
}

// Logits of every position of a fixed prompt, [tokens][vocab].
inline std::vector<float> promptLogits(const ModelFiles& files) {
    std::unique_ptr<Backend> backend = makeCpuBackend(CpuBackendOptions{1, false});
    Transformer model(files, *backend);
    const std::vector<int32_t> tokens = {1, 17, 300, 5, 999, 42, 7, 1500, 64, 3};
    Batch batch;
    for (size_t i = 0; i < tokens.size(); ++i)
        batch.add(tokens[i], int32_t(i), 0, true);
    KvCache cache = model.makeCache(32);
    std::vector<float> logits;
    model.forward(batch, cache, logits);
    return logits;
}

// max |a - b| / max |b|.
inline double relativeMaxDifference(const std::vector<float>& a, const std::vector<float>& b) {
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::fabs(double(a[i]) - b[i]));
        scale = std::max(scale, std::fabs(double(b[i])));
    }
    return diff / scale;
}

} // namespace lathe::test
