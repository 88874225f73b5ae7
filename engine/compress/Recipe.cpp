#include "compress/Recipe.h"

#include "backend/Backend.h"
#include "backend/cpu/CpuBackend.h"
#include "compress/Awq.h"
#include "compress/EditableModel.h"
#include "compress/Gptq.h"
#include "compress/Pruning.h"
#include "compress/SmoothQuant.h"
#include "core/Error.h"
#include "core/ThreadPool.h"

#include <chrono>
#include <cmath>
#include <fmt/format.h>

namespace lathe {

namespace {

struct MethodName {
    CompressMethod method;
    std::string_view name;
};
constexpr MethodName kMethods[] = {
    {CompressMethod::Rtn, "rtn"},
    {CompressMethod::Awq, "awq"},
    {CompressMethod::Gptq, "gptq"},
    {CompressMethod::SmoothQuant, "smoothquant"},
    {CompressMethod::Magnitude, "magnitude"},
    {CompressMethod::Wanda, "wanda"},
    {CompressMethod::SparseGpt, "sparsegpt"},
    {CompressMethod::FfnChannels, "ffn_channels"},
    {CompressMethod::AttnHeads, "attn_heads"},
};

CompressMethod methodFromName(const std::string& name) {
    for (const MethodName& m : kMethods)
        if (m.name == name) return m.method;
    fail(ErrorCategory::InvalidArgument,
         "recipe: unknown method '{}' (rtn, awq, gptq, smoothquant, magnitude, wanda, sparsegpt, "
         "ffn_channels, attn_heads)",
         name);
}

bool isPruning(CompressMethod m) {
    return m == CompressMethod::Magnitude || m == CompressMethod::Wanda || m == CompressMethod::SparseGpt ||
           m == CompressMethod::FfnChannels || m == CompressMethod::AttnHeads;
}

// Structured: whole channels or heads leave, so no weight becomes a zero that a grid must keep.
bool isStructured(CompressMethod m) {
    return m == CompressMethod::FfnChannels || m == CompressMethod::AttnHeads;
}

template <typename T> T field(const nlohmann::json& step, const char* key, T fallback, size_t index) {
    if (!step.contains(key)) return fallback;
    try {
        return step.at(key).get<T>();
    } catch (const nlohmann::json::exception&) {
        fail(ErrorCategory::InvalidArgument, "recipe: steps[{}].{} has the wrong type", index, key);
    }
}

} // namespace

std::string_view compressMethodName(CompressMethod method) {
    for (const MethodName& m : kMethods)
        if (m.method == method) return m.name;
    return "?";
}

bool isQuantizing(CompressMethod m) {
    return m == CompressMethod::Rtn || m == CompressMethod::Awq || m == CompressMethod::Gptq ||
           m == CompressMethod::SmoothQuant;
}

bool needsCalibration(CompressMethod m) {
    return m != CompressMethod::Rtn && m != CompressMethod::Magnitude;
}

std::string RecipeStep::describe() const {
    const std::string name(compressMethodName(method));
    switch (method) {
    case CompressMethod::Rtn:
    case CompressMethod::Awq:
    case CompressMethod::Gptq:
        return fmt::format("{} w{} {}{}", name, quant.bits,
                           quant.group == 0 ? std::string("per-channel") : fmt::format("g{}", quant.group),
                           quant.symmetric ? " sym" : "");
    case CompressMethod::SmoothQuant:
        return fmt::format("smoothquant w8a8 a{:.2g}", alpha);
    case CompressMethod::FfnChannels:
        return fmt::format("ffn_channels {:.0f}%", sparsity * 100.0);
    case CompressMethod::AttnHeads:
        return fmt::format("attn_heads {:.0f}% {}", sparsity * 100.0, headUnitName(headUnit));
    default:
        if (patternM > 0) return fmt::format("{} {}:{}", name, patternN, patternM);
        return fmt::format("{} {:.0f}%", name, sparsity * 100.0);
    }
}

Recipe Recipe::fromJson(const nlohmann::json& json) {
    if (!json.is_object()) fail(ErrorCategory::InvalidArgument, "recipe: expected a JSON object");
    Recipe r;
    if (json.contains("name") && json["name"].is_string()) r.name = json["name"].get<std::string>();
    if (!json.contains("steps") || !json["steps"].is_array() || json["steps"].empty())
        fail(ErrorCategory::InvalidArgument, "recipe: 'steps' must be a non-empty array");
    size_t i = 0;
    for (const nlohmann::json& s : json["steps"]) {
        if (!s.is_object() || !s.contains("method") || !s["method"].is_string())
            fail(ErrorCategory::InvalidArgument, "recipe: steps[{}] needs a 'method'", i);
        RecipeStep step;
        step.method = methodFromName(s["method"].get<std::string>());
        step.quant.bits = field<int>(s, "bits", step.method == CompressMethod::SmoothQuant ? 8 : 4, i);
        step.quant.group = field<int>(s, "group", 128, i);
        step.quant.symmetric = field<bool>(s, "symmetric", step.quant.bits == 8, i);
        step.sparsity = field<double>(s, "sparsity", isStructured(step.method) ? 0.25 : 0.5, i);
        const std::string unit = field<std::string>(s, "unit", "query", i);
        if (const std::optional<HeadUnit> parsed = headUnitFromName(unit))
            step.headUnit = *parsed;
        else
            fail(ErrorCategory::InvalidArgument, "recipe: steps[{}].unit '{}' is not query or group", i,
                 unit);
        const std::string pattern = field<std::string>(s, "pattern", "", i);
        if (!pattern.empty() && pattern != "unstructured") {
            if (std::sscanf(pattern.c_str(), "%d:%d", &step.patternN, &step.patternM) != 2)
                fail(ErrorCategory::InvalidArgument, "recipe: steps[{}].pattern '{}' is not N:M", i, pattern);
        }
        step.damp = field<double>(s, "damp", step.damp, i);
        step.actOrder = field<bool>(s, "act_order", step.actOrder, i);
        step.alpha = field<double>(s, "alpha", step.alpha, i);
        step.awqGrid = field<int>(s, "grid", step.awqGrid, i);
        r.steps.push_back(step);
        ++i;
    }
    if (json.contains("calibration")) {
        const nlohmann::json& c = json["calibration"];
        if (!c.is_object()) fail(ErrorCategory::InvalidArgument, "recipe: 'calibration' must be an object");
        r.calibration.text = field<std::string>(c, "text", "", 0);
        r.calibration.tokens = field<int>(c, "tokens", r.calibration.tokens, 0);
        r.calibration.contextTokens = field<int>(c, "ctx", r.calibration.contextTokens, 0);
    }
    if (json.contains("storage")) {
        const std::string name = field<std::string>(json, "storage", "", 0);
        const std::optional<DType> storage = dtypeFromName(name);
        if (!storage) fail(ErrorCategory::InvalidArgument, "recipe: unknown storage format '{}'", name);
        r.storage = *storage;
    }
    r.validate();
    if (r.name.empty()) r.name = r.describe();
    return r;
}

nlohmann::json Recipe::toJson() const {
    nlohmann::json steps = nlohmann::json::array();
    for (const RecipeStep& s : this->steps) {
        nlohmann::json j = {{"method", compressMethodName(s.method)}};
        switch (s.method) {
        case CompressMethod::Rtn:
        case CompressMethod::Awq:
        case CompressMethod::Gptq:
            j["bits"] = s.quant.bits;
            j["group"] = s.quant.group;
            j["symmetric"] = s.quant.symmetric;
            if (s.method == CompressMethod::Gptq) {
                j["damp"] = s.damp;
                j["act_order"] = s.actOrder;
            }
            if (s.method == CompressMethod::Awq) j["grid"] = s.awqGrid;
            break;
        case CompressMethod::SmoothQuant:
            j["alpha"] = s.alpha;
            break;
        case CompressMethod::AttnHeads:
            j["sparsity"] = s.sparsity;
            j["unit"] = headUnitName(s.headUnit);
            break;
        case CompressMethod::SparseGpt:
            j["damp"] = s.damp;
            [[fallthrough]];
        default:
            if (s.patternM > 0)
                j["pattern"] = fmt::format("{}:{}", s.patternN, s.patternM);
            else
                j["sparsity"] = s.sparsity;
        }
        steps.push_back(j);
    }
    nlohmann::json out = {{"name", name.empty() ? describe() : name},
                          {"steps", steps},
                          {"storage", dtypeName(storage)},
                          {"calibration",
                           {{"text", calibration.text.string()},
                            {"tokens", calibration.tokens},
                            {"ctx", calibration.contextTokens}}}};
    return out;
}

void Recipe::validate() const {
    if (steps.empty()) fail(ErrorCategory::InvalidArgument, "recipe: no steps");
    bool pruned = false;
    for (size_t i = 0; i < steps.size(); ++i) {
        const RecipeStep& s = steps[i];
        if (isQuantizing(s.method) && i + 1 != steps.size())
            fail(ErrorCategory::InvalidArgument,
                 "recipe: step {} ({}) quantizes, so it must be the last step", i + 1, s.describe());
        switch (s.method) {
        case CompressMethod::Rtn:
        case CompressMethod::Awq:
        case CompressMethod::Gptq:
            s.quant.validate(int64_t(s.quant.group == 0 ? 32 : s.quant.group));
            if (pruned && !s.quant.symmetric)
                fail(ErrorCategory::InvalidArgument,
                     "recipe: step {} quantizes pruned weights on an asymmetric grid, where zero is not a "
                     "value; set symmetric",
                     i + 1);
            break;
        case CompressMethod::SmoothQuant:
            if (!(s.alpha >= 0.0 && s.alpha <= 1.0))
                fail(ErrorCategory::InvalidArgument, "recipe: step {}: alpha {} is outside [0, 1]", i + 1,
                     s.alpha);
            break;
        case CompressMethod::FfnChannels:
        case CompressMethod::AttnHeads:
            if (!(s.sparsity > 0.0 && s.sparsity < 1.0))
                fail(ErrorCategory::InvalidArgument, "recipe: step {}: sparsity {} is outside (0, 1)", i + 1,
                     s.sparsity);
            break;
        default:
            SparsityPattern{s.sparsity, s.patternN, s.patternM}.validate(s.patternM > 0 ? s.patternM : 1);
        }
        if (s.method == CompressMethod::Gptq || s.method == CompressMethod::SparseGpt)
            if (!(s.damp > 0.0 && s.damp < 1.0))
                fail(ErrorCategory::InvalidArgument, "recipe: step {}: damp {} is outside (0, 1)", i + 1,
                     s.damp);
        if (s.method == CompressMethod::Awq && (s.awqGrid < 1 || s.awqGrid > 100))
            fail(ErrorCategory::InvalidArgument, "recipe: step {}: grid {} is outside 1..100", i + 1,
                 s.awqGrid);
        if (isPruning(s.method) && !isStructured(s.method)) pruned = true;
    }
    if (calibration.tokens < 16 || calibration.contextTokens < 16)
        fail(ErrorCategory::InvalidArgument, "recipe: calibration needs at least 16 tokens in chunks of 16");
    if (storage != DType::F32 && storage != DType::F16 && storage != DType::BF16 && storage != DType::Q8_0)
        fail(ErrorCategory::InvalidArgument,
             "recipe: storage {} would not keep pruned weights at zero (f32, f16, bf16 or q8_0)",
             dtypeName(storage));
}

bool Recipe::needsCalibration() const {
    for (const RecipeStep& s : steps)
        if (lathe::needsCalibration(s.method)) return true;
    return false;
}

std::string Recipe::describe() const {
    std::string out;
    for (const RecipeStep& s : steps)
        out += (out.empty() ? "" : " + ") + s.describe();
    return out;
}

namespace {

// Runs one step over every layer. progress: the step's own fraction.
// storage: the recipe's format for changed weights, in which each finished layer is kept (compact).
void applyStep(EditableModel& model, const RecipeStep& step, const CalibrationActivations* activations,
               ThreadPool& pool, Backend& floatBackend, DType storage, CompressionReport& report,
               const ProgressFn& progress, const CancelToken& cancel) {
    const ModelConfig& config = model.config();
    const int layers = config.nLayers;
    auto layerDone = [&](int l) {
        model.compact(l, storage); // what the step changed in this layer, encoded: never all in floats
        reportProgress(progress, double(l + 1) / double(layers),
                       fmt::format("{} layer {}/{}", compressMethodName(step.method), l + 1, layers));
    };
    const SparsityPattern pattern{step.sparsity, step.patternN, step.patternM};
    switch (step.method) {
    case CompressMethod::Rtn:
        for (int l = 0; l < layers; ++l) {
            cancel.throwIfCancelled();
            for (BlockMatrix which : kBlockMatrices) {
                FloatMatrix& m = model.matrix(l, which);
                model.setQuantized(l, which, quantizeNearest(m.values, m.rows, m.cols, step.quant));
            }
            layerDone(l);
        }
        return;
    case CompressMethod::Gptq: {
        const GptqSettings settings{step.quant, step.damp, step.actOrder, 128};
        for (int l = 0; l < layers; ++l)
            for (InputSite site :
                 {InputSite::AttnNorm, InputSite::AttnMix, InputSite::FfnNorm, InputSite::FfnMix}) {
                cancel.throwIfCancelled();
                const SiteActivations& a = activations->at(l, site);
                const GptqHessian h = prepareGptqHessian(inputHessian(a.rows, a.tokens, a.width, &pool),
                                                         step.damp, step.actOrder, &pool);
                for (BlockMatrix which : kBlockMatrices)
                    if (inputSiteOf(which) == site) {
                        cancel.throwIfCancelled();
                        FloatMatrix& m = model.matrix(l, which);
                        model.setQuantized(l, which,
                                           quantizeGptq(m.values, m.rows, m.cols, h, settings, &pool));
                    }
                if (site == InputSite::FfnMix) layerDone(l);
            }
        return;
    }
    case CompressMethod::Awq: {
        AwqSettings settings;
        settings.quant = step.quant;
        settings.grid = step.awqGrid;
        const std::vector<std::string> notes =
            applyAwq(model, *activations, settings, floatBackend, progress, cancel);
        report.notes.insert(report.notes.end(), notes.begin(), notes.end());
        return;
    }
    case CompressMethod::SmoothQuant: {
        const std::vector<std::string> notes =
            applySmoothQuant(model, *activations, step.alpha, progress, cancel);
        report.notes.insert(report.notes.end(), notes.begin(), notes.end());
        return;
    }
    case CompressMethod::Magnitude:
    case CompressMethod::Wanda:
        for (int l = 0; l < layers; ++l) {
            cancel.throwIfCancelled();
            for (BlockMatrix which : kBlockMatrices) {
                FloatMatrix& m = model.matrix(l, which);
                if (step.method == CompressMethod::Magnitude)
                    pruneMagnitude(m.values, m.rows, m.cols, pattern);
                else
                    pruneWanda(m.values, m.rows, m.cols, activations->inputOf(l, which).channelL2(), pattern);
            }
            layerDone(l);
        }
        return;
    case CompressMethod::SparseGpt:
        for (int l = 0; l < layers; ++l) {
            for (InputSite site :
                 {InputSite::AttnNorm, InputSite::AttnMix, InputSite::FfnNorm, InputSite::FfnMix}) {
                cancel.throwIfCancelled();
                const SiteActivations& a = activations->at(l, site);
                // One factor per input, shared by the matrices that read it (q/k/v, gate/up).
                const SparseGptHessian h =
                    prepareSparseGptHessian(inputHessian(a.rows, a.tokens, a.width, &pool), step.damp, &pool);
                for (BlockMatrix which : kBlockMatrices)
                    if (inputSiteOf(which) == site) {
                        cancel.throwIfCancelled();
                        FloatMatrix& m = model.matrix(l, which);
                        pruneSparseGpt(m.values, m.rows, m.cols, h, pattern);
                    }
            }
            layerDone(l);
        }
        return;
    case CompressMethod::FfnChannels: {
        int64_t removed = 0, total = 0;
        for (int l = 0; l < layers; ++l) {
            cancel.throwIfCancelled();
            const int64_t ff = model.ffWidth(l), e = config.nEmbd;
            // Keep whole blocks of 32 so that every block format still fits the rows of ffn_down.
            int64_t keep = int64_t(std::llround(double(ff) * (1.0 - step.sparsity) / 32.0)) * 32;
            keep = std::clamp<int64_t>(keep, 32, ff);
            const FloatMatrix& down = model.matrix(l, BlockMatrix::FfnDown);
            const std::vector<double> importance =
                ffnChannelImportance(down.values, e, ff, activations->at(l, InputSite::FfnMix).channelL2());
            const std::vector<int64_t> kept = channelsToKeep(importance, keep);
            FfnWeights w =
                keepFfnChannels(model.matrix(l, BlockMatrix::FfnGate).values,
                                model.matrix(l, BlockMatrix::FfnUp).values, down.values, e, ff, kept);
            model.setFfn(l, FloatMatrix{w.ff, e, std::move(w.gate)}, FloatMatrix{w.ff, e, std::move(w.up)},
                         FloatMatrix{e, w.ff, std::move(w.down)});
            removed += ff - keep;
            total += ff;
            layerDone(l);
        }
        report.notes.push_back(fmt::format("ffn_channels: {} of {} channels removed", removed, total));
        return;
    }
    case CompressMethod::AttnHeads: {
        const HeadLayout layout{config.nHeads, config.nHeadsKv, config.headDim};
        const int remove = headUnitsToRemove(layout, step.headUnit, step.sparsity);
        const int64_t e = config.nEmbd;
        HeadSelection keep;
        int sliced = 0;
        for (int l = 0; l < layers; ++l) {
            cancel.throwIfCancelled();
            const SiteActivations& mix = activations->at(l, InputSite::AttnMix);
            // Matrices no earlier step touched keep their stored bytes: whole rows of q/k/v and whole
            // blocks of attn_output's rows are copied, so nothing is re-encoded and the format stays.
            const TensorView* stored[4] = {
                model.untouched(l, BlockMatrix::AttnQ), model.untouched(l, BlockMatrix::AttnK),
                model.untouched(l, BlockMatrix::AttnV), model.untouched(l, BlockMatrix::AttnOutput)};
            const bool slice = stored[0] && stored[1] && stored[2] && stored[3] &&
                               config.headDim % dtypeInfo(stored[3]->dtype).blockSize == 0;
            // Importance from attn_output's values, without making them an edit when it will be sliced.
            const std::vector<double> importance = headImportance(
                slice ? decodeMatrix(*stored[3]).values : model.matrix(l, BlockMatrix::AttnOutput).values, e,
                mix.rows, mix.tokens, layout, step.headUnit, &pool);
            keep = selectHeads(importance, layout, step.headUnit, remove);
            const std::string prefix = fmt::format("blk.{}.", l);
            const int64_t d = config.headDim;
            auto rangesOf = [d](const std::vector<int>& heads) {
                EditableModel::Ranges ranges;
                for (int h : heads)
                    if (!ranges.empty() && ranges.back().second == h * d)
                        ranges.back().second += d;
                    else
                        ranges.emplace_back(h * d, (h + 1) * d);
                return ranges;
            };
            if (slice) {
                checkHeadSelection(layout, keep); // keepAttentionHeads checks it on the float path
                const EditableModel::Ranges queryRows = rangesOf(keep.queryHeads),
                                            kvRows = rangesOf(keep.kvHeads);
                const EditableModel::Ranges allColumns = {{0, e}}, allRows = {{0, e}};
                model.keepStored(l, BlockMatrix::AttnQ, queryRows, allColumns);
                model.keepStored(l, BlockMatrix::AttnK, kvRows, allColumns);
                model.keepStored(l, BlockMatrix::AttnV, kvRows, allColumns);
                model.keepStored(l, BlockMatrix::AttnOutput, allRows, queryRows);
                for (auto [name, ranges] :
                     {std::pair{"attn_q.bias", &queryRows}, std::pair{"attn_k.bias", &kvRows},
                      std::pair{"attn_v.bias", &kvRows}})
                    if (std::vector<float>* bias = model.vector(prefix + name)) {
                        std::vector<float> kept;
                        for (const auto& [begin, end] : *ranges)
                            kept.insert(kept.end(), bias->begin() + begin, bias->begin() + end);
                        *bias = std::move(kept);
                    }
                model.setHeadCounts(l, int(keep.queryHeads.size()), int(keep.kvHeads.size()));
                ++sliced;
                layerDone(l);
                continue;
            }
            AttentionWeights full;
            full.q = std::move(model.matrix(l, BlockMatrix::AttnQ).values);
            full.k = std::move(model.matrix(l, BlockMatrix::AttnK).values);
            full.v = std::move(model.matrix(l, BlockMatrix::AttnV).values);
            full.o = std::move(model.matrix(l, BlockMatrix::AttnOutput).values);
            for (auto [bias, name] : {std::pair{&full.bq, "attn_q.bias"}, std::pair{&full.bk, "attn_k.bias"},
                                      std::pair{&full.bv, "attn_v.bias"}})
                if (const std::vector<float>* stored = model.vector(prefix + name)) *bias = *stored;
            AttentionWeights kept = keepAttentionHeads(full, e, layout, keep);
            const int64_t qRows = int64_t(keep.queryHeads.size()) * d;
            const int64_t kvRows = int64_t(keep.kvHeads.size()) * d;
            model.setAttention(
                l, int(keep.queryHeads.size()), int(keep.kvHeads.size()),
                FloatMatrix{qRows, e, std::move(kept.q)}, FloatMatrix{kvRows, e, std::move(kept.k)},
                FloatMatrix{kvRows, e, std::move(kept.v)}, FloatMatrix{e, qRows, std::move(kept.o)},
                std::move(kept.bq), std::move(kept.bk), std::move(kept.bv));
            layerDone(l);
        }
        if (sliced > 0)
            report.notes.push_back(
                fmt::format("attn_heads: {} of {} layers keep their stored encoding (rows and blocks copied)",
                            sliced, layers));
        report.notes.push_back(
            fmt::format("attn_heads: {} of {} query heads and {} of {} KV heads kept per layer",
                        keep.queryHeads.size(), layout.nHeads, keep.kvHeads.size(), layout.nHeadsKv));
        return;
    }
    }
}

} // namespace

CompressionReport applyRecipe(const std::filesystem::path& modelPath, const Recipe& recipe,
                              const std::filesystem::path& output, int threads, const ProgressFn& progress,
                              const CancelToken& cancel) {
    const auto started = std::chrono::steady_clock::now();
    recipe.validate();
    if (std::filesystem::exists(output) && std::filesystem::equivalent(output, modelPath))
        fail(ErrorCategory::InvalidArgument, "the output {} is the model itself", output.string());
    EditableModel model(modelPath);
    CompressionReport report;
    report.inputBytes = std::filesystem::file_size(modelPath);
    ThreadPool pool(threads);
    std::unique_ptr<Backend> floatBackend = makeCpuBackend(CpuBackendOptions{threads, false});
    std::vector<std::vector<int32_t>> chunks;
    if (recipe.needsCalibration()) {
        chunks = calibrationChunks(model.sourceFiles(), recipe.calibration);
        for (const auto& c : chunks)
            report.calibrationTokens += int64_t(c.size());
    }
    // Shares of the whole job: each step (calibration 30% of a calibrated step), then the write.
    const double stepShare = 0.9 / double(recipe.steps.size());
    for (size_t i = 0; i < recipe.steps.size(); ++i) {
        const RecipeStep& step = recipe.steps[i];
        const double base = stepShare * double(i);
        const std::string prefix =
            fmt::format("step {}/{} {}: ", i + 1, recipe.steps.size(), step.describe());
        std::optional<CalibrationActivations> activations;
        double workShare = stepShare;
        if (needsCalibration(step.method)) {
            ModelFiles current = model.currentFiles();
            activations = collectActivations(
                current, chunks, threads,
                [&](double f, std::string_view stage) {
                    reportProgress(progress, base + 0.3 * stepShare * f, prefix + std::string(stage));
                },
                cancel);
            workShare = 0.7 * stepShare;
        }
        const double workBase = base + stepShare - workShare;
        applyStep(
            model, step, activations ? &*activations : nullptr, pool, *floatBackend, recipe.storage, report,
            [&](double f, std::string_view stage) {
                reportProgress(progress, workBase + workShare * f, prefix + std::string(stage));
            },
            cancel);
    }
    model.setMetadata("lathe.recipe", {recipe.toJson().dump()});
    model.setMetadata("lathe.parent", {modelPath.filename().string()});
    const WriteCounts counts = model.write(
        output, recipe.storage,
        [&](double f, std::string_view stage) {
            reportProgress(progress, 0.9 + 0.1 * f, "writing " + std::string(stage));
        },
        cancel);
    report.changedTensors = counts.changedTensors;
    report.keptTensors = counts.keptTensors;
    report.sparsity =
        counts.blockWeights > 0 ? double(counts.zeroBlockWeights) / double(counts.blockWeights) : 0.0;
    report.outputBytes = std::filesystem::file_size(output);
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return report;
}

} // namespace lathe
