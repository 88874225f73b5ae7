#include "compress/SmoothQuant.h"

#include "compress/ScaleFolding.h"
#include "core/Error.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace lathe {

std::vector<float> smoothingScales(std::span<const float> xMax, std::span<const float> wMax, double alpha) {
    std::vector<float> s(xMax.size());
    for (size_t j = 0; j < s.size(); ++j)
        s[j] = float(std::pow(std::max(double(xMax[j]), 1e-5), alpha) /
                     std::pow(std::max(double(wMax[j]), 1e-5), 1.0 - alpha));
    return s;
}

std::vector<std::string> applySmoothQuant(EditableModel& model, const CalibrationActivations& activations,
                                          double alpha, const ProgressFn& progress,
                                          const CancelToken& cancel) {
    if (!(alpha >= 0.0 && alpha <= 1.0))
        fail(ErrorCategory::InvalidArgument, "smoothquant: alpha {} is outside [0, 1]", alpha);
    const ModelConfig& config = model.config();
    std::vector<std::string> notes;
    const QuantSpec perChannel{8, 0, true};
    for (int l = 0; l < config.nLayers; ++l) {
        cancel.throwIfCancelled();
        std::string note = fmt::format("layer {}: max|x| before/after smoothing", l);
        for (ScaleSite site : {ScaleSite::AttnInput, ScaleSite::FfnInput}) {
            const std::vector<float> xMax = activations.at(l, inputSiteOf(site)).channelMaxAbs();
            std::vector<float> wMax(xMax.size(), 0.0f);
            for (BlockMatrix which : consumersOf(site)) {
                const FloatMatrix& m = model.matrix(l, which);
                for (int64_t r = 0; r < m.rows; ++r)
                    for (int64_t c = 0; c < m.cols; ++c)
                        wMax[size_t(c)] =
                            std::max(wMax[size_t(c)], std::fabs(m.values[size_t(r * m.cols + c)]));
            }
            const std::vector<float> s = smoothingScales(xMax, wMax, alpha);
            foldInputScales(model, l, site, s);
            float before = 0.0f, after = 0.0f;
            for (size_t j = 0; j < s.size(); ++j) {
                before = std::max(before, xMax[j]);
                after = std::max(after, xMax[j] / s[j]);
            }
            note += fmt::format(" {:.1f}/{:.1f}", before, after);
        }
        for (BlockMatrix which : kBlockMatrices) {
            FloatMatrix& m = model.matrix(l, which);
            model.setQuantized(l, which, quantizeNearest(m.values, m.rows, m.cols, perChannel));
        }
        notes.push_back(note);
        reportProgress(progress, double(l + 1) / double(config.nLayers),
                       fmt::format("smoothquant layer {}", l));
    }
    model.setMetadata("lathe.activation_quantization", {std::string("per_token_int8")});
    return notes;
}

} // namespace lathe
