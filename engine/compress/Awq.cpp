#include "compress/Awq.h"

#include "backend/Backend.h"
#include "compress/ScaleFolding.h"
#include "core/Error.h"
#include "fmt/format.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lathe {

std::vector<float> awqScales(std::span<const float> meanAbs, double alpha) {
    std::vector<float> s(meanAbs.size());
    double lo = std::numeric_limits<double>::max(), hi = 0.0;
    for (size_t j = 0; j < meanAbs.size(); ++j) {
        const double v = std::pow(std::max(double(meanAbs[j]), 1e-4), alpha);
        s[j] = float(v);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    const double norm = std::sqrt(lo * hi);
    for (float& v : s)
        v = float(double(v) / norm);
    return s;
}

namespace {

// Measures ||X Eᵀ||² with the backend's float matmul. x: [tokens][cols]; e: [rows][cols].
class ErrorMeter {
public:
    explicit ErrorMeter(Backend& backend) : backend_(backend) {}

    // Per output row: sum over tokens of (X Eᵀ)[t][r]².
    void rowErrors(std::span<const float> x, int64_t tokens, std::span<const float> e, int64_t rows,
                   int64_t cols, std::span<double> out) {
        TensorView view;
        view.name = "awq.error";
        view.dtype = DType::F32;
        view.nDims = 2;
        view.shape = {cols, rows, 1, 1};
        view.data = reinterpret_cast<const uint8_t*>(e.data());
        view.nbytes = uint64_t(rows * cols) * sizeof(float);
        std::unique_ptr<BackendWeight> weight = backend_.prepareWeight(view);
        y_.resize(size_t(tokens * rows));
        backend_.matmul(*weight, x, int(tokens), y_);
        for (int64_t t = 0; t < tokens; ++t)
            for (int64_t r = 0; r < rows; ++r) {
                const double v = y_[size_t(t * rows + r)];
                out[size_t(r)] += v * v;
            }
    }

    double total(std::span<const float> x, int64_t tokens, std::span<const float> e, int64_t rows,
                 int64_t cols) {
        std::vector<double> perRow(size_t(rows), 0.0);
        rowErrors(x, tokens, e, rows, cols, perRow);
        double sum = 0.0;
        for (double v : perRow)
            sum += v;
        return sum;
    }

private:
    Backend& backend_;
    std::vector<float> y_;
};

// The first `tokens` rows of a site's activations, columns divided by `divisor` (empty: none).
std::vector<float> sampleInputs(const SiteActivations& a, int64_t tokens, std::span<const float> divisor) {
    std::vector<float> x(a.rows.begin(), a.rows.begin() + tokens * a.width);
    if (!divisor.empty())
        for (int64_t t = 0; t < tokens; ++t)
            for (int64_t c = 0; c < a.width; ++c)
                x[size_t(t * a.width + c)] /= divisor[size_t(c)];
    return x;
}

// Error of quantizing w·s (then dividing by s) against w, summed over the matrices.
double scaledQuantError(ErrorMeter& meter, const std::vector<const FloatMatrix*>& matrices,
                        std::span<const float> x, int64_t tokens, std::span<const float> s,
                        const QuantSpec& spec) {
    double loss = 0.0;
    std::vector<float> scaled, e;
    for (const FloatMatrix* m : matrices) {
        scaled = m->values;
        for (int64_t r = 0; r < m->rows; ++r)
            for (int64_t c = 0; c < m->cols; ++c)
                scaled[size_t(r * m->cols + c)] *= s[size_t(c)];
        const std::vector<float> q = quantizeNearest(scaled, m->rows, m->cols, spec).dequantized();
        e.resize(scaled.size());
        for (int64_t r = 0; r < m->rows; ++r)
            for (int64_t c = 0; c < m->cols; ++c) {
                const size_t i = size_t(r * m->cols + c);
                e[i] = m->values[i] - q[i] / s[size_t(c)];
            }
        loss += meter.total(x, tokens, e, m->rows, m->cols);
    }
    return loss;
}

// Per (row, group) clip ratios minimising each group's output error. x: the inputs the (scaled)
// matrix sees, [tokens][cols].
std::vector<float> searchClips(ErrorMeter& meter, const FloatMatrix& m, std::span<const float> x,
                               int64_t tokens, const AwqSettings& settings) {
    const QuantSpec& spec = settings.quant;
    const int64_t g = spec.groupLength(m.cols), groups = (m.cols + g - 1) / g;
    std::vector<float> best(size_t(m.rows * groups), 1.0f);
    std::vector<double> bestErr(size_t(m.rows * groups), std::numeric_limits<double>::infinity());
    std::vector<float> clips(best.size()), xg(size_t(tokens * g)), eg(size_t(m.rows * g));
    std::vector<double> err(size_t(m.rows));
    for (int step = 0; step < settings.clipGrid; ++step) {
        const float ratio = float(1.0 - settings.maxShrink * double(step) / double(settings.clipGrid));
        std::fill(clips.begin(), clips.end(), ratio);
        const std::vector<float> q = quantizeNearest(m.values, m.rows, m.cols, spec, clips).dequantized();
        for (int64_t k = 0; k < groups; ++k) {
            const int64_t length = std::min(g, m.cols - k * g); // the last group may be shorter
            xg.resize(size_t(tokens * length));
            eg.resize(size_t(m.rows * length));
            for (int64_t t = 0; t < tokens; ++t)
                std::copy_n(x.begin() + t * m.cols + k * g, length, xg.begin() + t * length);
            for (int64_t r = 0; r < m.rows; ++r)
                for (int64_t j = 0; j < length; ++j) {
                    const size_t i = size_t(r * m.cols + k * g + j);
                    eg[size_t(r * length + j)] = m.values[i] - q[i];
                }
            std::fill(err.begin(), err.end(), 0.0);
            meter.rowErrors(xg, tokens, eg, m.rows, length, err);
            for (int64_t r = 0; r < m.rows; ++r) {
                const size_t slot = size_t(r * groups + k);
                if (err[size_t(r)] < bestErr[slot]) {
                    bestErr[slot] = err[size_t(r)];
                    best[slot] = ratio;
                }
            }
        }
    }
    return best;
}

} // namespace

std::vector<std::string> applyAwq(EditableModel& model, const CalibrationActivations& activations,
                                  const AwqSettings& settings, Backend& backend, const ProgressFn& progress,
                                  const CancelToken& cancel) {
    const ModelConfig& config = model.config();
    ErrorMeter meter(backend);
    std::vector<std::string> notes;
    const int64_t tokens = std::min<int64_t>(settings.sampleTokens, activations.tokens);
    if (tokens <= 0) fail(ErrorCategory::InvalidArgument, "AWQ needs calibration tokens");
    for (int l = 0; l < config.nLayers; ++l) {
        std::vector<std::vector<float>> applied(4); // the s folded at each site (empty: none)
        std::string note = fmt::format("layer {}: alpha", l);
        for (ScaleSite site : kScaleSites) {
            cancel.throwIfCancelled();
            if (!canFoldInputScales(config, site)) {
                note += " -";
                continue;
            }
            const SiteActivations& a = activations.at(l, inputSiteOf(site));
            const std::vector<float> x = sampleInputs(a, tokens, {});
            const std::vector<float> meanAbs = a.channelMeanAbs();
            std::vector<const FloatMatrix*> matrices;
            for (BlockMatrix which : consumersOf(site))
                matrices.push_back(&model.matrix(l, which));
            double bestLoss = std::numeric_limits<double>::infinity();
            double bestAlpha = 0.0;
            for (int step = 0; step < settings.grid; ++step) {
                const double alpha = double(step) / double(settings.grid);
                const double loss =
                    scaledQuantError(meter, matrices, x, tokens, awqScales(meanAbs, alpha), settings.quant);
                if (loss < bestLoss) {
                    bestLoss = loss;
                    bestAlpha = alpha;
                }
            }
            note += fmt::format(" {:.2f}", bestAlpha);
            if (bestAlpha > 0.0) {
                std::vector<float> s = awqScales(meanAbs, bestAlpha);
                foldInputScales(model, l, site, s);
                applied[size_t(site)] = std::move(s);
            }
        }
        for (BlockMatrix which : kBlockMatrices) {
            cancel.throwIfCancelled();
            FloatMatrix& m = model.matrix(l, which);
            std::vector<float> clips;
            const bool clipThis = settings.clip && which != BlockMatrix::AttnQ && which != BlockMatrix::AttnK;
            if (clipThis) {
                const ScaleSite site = scaleSiteOf(which);
                const std::vector<float> x =
                    sampleInputs(activations.at(l, inputSiteOf(site)), tokens, applied[size_t(site)]);
                clips = searchClips(meter, m, x, tokens, settings);
            }
            model.setQuantized(l, which, quantizeNearest(m.values, m.rows, m.cols, settings.quant, clips));
        }
        notes.push_back(note);
        reportProgress(progress, double(l + 1) / double(config.nLayers), fmt::format("awq layer {}", l));
    }
    return notes;
}

} // namespace lathe
