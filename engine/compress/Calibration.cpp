#include "compress/Calibration.h"

#include "backend/Backend.h"
#include "backend/cpu/CpuBackend.h"
#include "core/Error.h"
#include "core/TextFile.h"
#include "model/Batch.h"
#include "model/KvCache.h"
#include "model/Transformer.h"
#include "tokenizer/Tokenizer.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace lathe {

std::filesystem::path defaultCalibrationText() {
    return std::filesystem::path(LATHE_RESOURCE_DIR) / "text" / "calibration.txt";
}

std::filesystem::path defaultEvaluationText() {
    return std::filesystem::path(LATHE_RESOURCE_DIR) / "text" / "gpl-3.0.txt";
}

InputSite inputSiteOf(BlockMatrix which) {
    switch (which) {
    case BlockMatrix::AttnQ:
    case BlockMatrix::AttnK:
    case BlockMatrix::AttnV:
        return InputSite::AttnNorm;
    case BlockMatrix::AttnOutput:
        return InputSite::AttnMix;
    case BlockMatrix::FfnGate:
    case BlockMatrix::FfnUp:
        return InputSite::FfnNorm;
    case BlockMatrix::FfnDown:
        return InputSite::FfnMix;
    }
    return InputSite::AttnNorm;
}

std::vector<float> SiteActivations::channelL2() const {
    std::vector<double> sums(static_cast<size_t>(width), 0.0);
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t c = 0; c < width; ++c) {
            const double v = rows[size_t(t * width + c)];
            sums[size_t(c)] += v * v;
        }
    std::vector<float> out(static_cast<size_t>(width));
    for (int64_t c = 0; c < width; ++c)
        out[size_t(c)] = float(std::sqrt(sums[size_t(c)]));
    return out;
}

std::vector<float> SiteActivations::channelMeanAbs() const {
    std::vector<double> sums(static_cast<size_t>(width), 0.0);
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t c = 0; c < width; ++c)
            sums[size_t(c)] += std::fabs(rows[size_t(t * width + c)]);
    std::vector<float> out(static_cast<size_t>(width));
    for (int64_t c = 0; c < width; ++c)
        out[size_t(c)] = float(sums[size_t(c)] / double(std::max<int64_t>(tokens, 1)));
    return out;
}

std::vector<float> SiteActivations::channelMaxAbs() const {
    std::vector<float> out(static_cast<size_t>(width), 0.0f);
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t c = 0; c < width; ++c)
            out[size_t(c)] = std::max(out[size_t(c)], std::fabs(rows[size_t(t * width + c)]));
    return out;
}

std::vector<std::vector<int32_t>> calibrationChunks(const ModelFiles& files,
                                                    const CalibrationSettings& settings) {
    const std::filesystem::path path = settings.text.empty() ? defaultCalibrationText() : settings.text;
    const std::string text = readTextFile(path, "calibration text");
    if (settings.contextTokens < 16 || settings.tokens < 16)
        fail(ErrorCategory::InvalidArgument,
             "calibration: {} tokens in chunks of {} is too few (16 at least)", settings.tokens,
             settings.contextTokens);
    const Tokenizer tokenizer(files.tokenizer);
    const std::vector<int32_t> tokens = tokenizer.encode(text, true, false);
    if (tokens.size() < 16)
        fail(ErrorCategory::InvalidArgument, "the calibration text {} has only {} tokens", path.string(),
             tokens.size());
    const int n = std::min<int>(settings.contextTokens, int(tokens.size()));
    const int64_t chunks =
        std::max<int64_t>(1, std::min<int64_t>(int64_t(tokens.size()) / n, std::max(1, settings.tokens / n)));
    const int32_t bos = files.tokenizer.addBos ? tokenizer.bosId() : -1;
    std::vector<std::vector<int32_t>> out;
    for (int64_t c = 0; c < chunks; ++c) {
        std::vector<int32_t> chunk(tokens.begin() + c * n, tokens.begin() + (c + 1) * n);
        if (bos >= 0) chunk[0] = bos;
        out.push_back(std::move(chunk));
    }
    return out;
}

CalibrationActivations collectActivations(const ModelFiles& files,
                                          const std::vector<std::vector<int32_t>>& chunks, int threads,
                                          const ProgressFn& progress, const CancelToken& cancel) {
    std::unique_ptr<Backend> backend = makeCpuBackend(CpuBackendOptions{threads, false});
    Transformer model(files, *backend);
    const ModelConfig& c = model.config();
    CalibrationActivations out;
    out.layers.resize(size_t(c.nLayers));
    size_t done = 0; // chunks finished
    int maxChunk = 0;
    for (const auto& chunk : chunks)
        maxChunk = std::max(maxChunk, int(chunk.size()));
    model.setDebugCallback([&](std::string_view name, int layer, std::span<const float> values) {
        InputSite site;
        if (name == "attn_norm") {
            // A chunk takes seconds on a busy machine: cancel and report between layers, not chunks.
            cancel.throwIfCancelled();
            reportProgress(progress,
                           (double(done) + double(layer) / double(c.nLayers)) / double(chunks.size()),
                           "calibration");
            site = InputSite::AttnNorm;
        } else if (name == "kqv_out")
            site = InputSite::AttnMix;
        else if (name == "ffn_norm")
            site = InputSite::FfnNorm;
        else if (name == "ffn_swiglu")
            site = InputSite::FfnMix;
        else
            return;
        SiteActivations& s = out.layers[size_t(layer)][size_t(site)];
        s.rows.insert(s.rows.end(), values.begin(), values.end());
    });
    KvCache cache = model.makeCache(maxChunk);
    std::vector<float> logits;
    for (size_t i = 0; i < chunks.size(); ++i) {
        done = i;
        cancel.throwIfCancelled();
        const auto& chunk = chunks[i];
        Batch batch;
        for (size_t j = 0; j < chunk.size(); ++j)
            batch.add(chunk[j], int32_t(j), 0, j + 1 == chunk.size());
        cache.clear();
        model.forward(batch, cache, logits);
        out.tokens += int64_t(chunk.size());
        reportProgress(progress, double(i + 1) / double(chunks.size()), "calibration");
    }
    for (auto& layer : out.layers)
        for (SiteActivations& site : layer) {
            site.tokens = out.tokens;
            site.width = out.tokens > 0 ? int64_t(site.rows.size()) / out.tokens : 0;
            site.rows.shrink_to_fit();
        }
    return out;
}

} // namespace lathe
