#include "compress/ScaleFolding.h"

#include "core/Error.h"

namespace lathe {

bool canFoldInputScales(const ModelConfig& config, ScaleSite site) {
    // attn_output's inputs are the heads' outputs, each a copy of a v row only when every query head
    // has its own KV head.
    return site != ScaleSite::AttnOutput || config.nHeads == config.nHeadsKv;
}

namespace {

void scaleColumns(FloatMatrix& m, std::span<const float> s) {
    for (int64_t r = 0; r < m.rows; ++r)
        for (int64_t c = 0; c < m.cols; ++c)
            m.values[size_t(r * m.cols + c)] *= s[size_t(c)];
}

void divideRows(FloatMatrix& m, std::span<const float> s) {
    for (int64_t r = 0; r < m.rows; ++r)
        for (int64_t c = 0; c < m.cols; ++c)
            m.values[size_t(r * m.cols + c)] /= s[size_t(r)];
}

} // namespace

std::vector<BlockMatrix> consumersOf(ScaleSite site) {
    switch (site) {
    case ScaleSite::AttnInput:
        return {BlockMatrix::AttnQ, BlockMatrix::AttnK, BlockMatrix::AttnV};
    case ScaleSite::AttnOutput:
        return {BlockMatrix::AttnOutput};
    case ScaleSite::FfnInput:
        return {BlockMatrix::FfnGate, BlockMatrix::FfnUp};
    case ScaleSite::FfnOutput:
        return {BlockMatrix::FfnDown};
    }
    return {};
}

InputSite inputSiteOf(ScaleSite site) {
    return inputSiteOf(consumersOf(site).front());
}

ScaleSite scaleSiteOf(BlockMatrix which) {
    for (ScaleSite site : kScaleSites)
        for (BlockMatrix consumer : consumersOf(site))
            if (consumer == which) return site;
    return ScaleSite::AttnInput;
}

void foldInputScales(EditableModel& model, int layer, ScaleSite site, std::span<const float> s) {
    if (!canFoldInputScales(model.config(), site))
        fail(ErrorCategory::InvalidArgument,
             "attn_output's scales cannot be folded into attn_v under grouped-query attention");
    for (BlockMatrix which : consumersOf(site)) {
        FloatMatrix& m = model.matrix(layer, which);
        if (m.cols != int64_t(s.size()))
            fail(ErrorCategory::Internal, "foldInputScales: {} scales for {} columns", s.size(), m.cols);
        scaleColumns(m, s);
    }
    switch (site) {
    case ScaleSite::AttnInput:
    case ScaleSite::FfnInput: {
        std::vector<float>& norm = model.norm(layer, site == ScaleSite::FfnInput);
        for (size_t j = 0; j < norm.size(); ++j)
            norm[j] /= s[j];
        break;
    }
    case ScaleSite::AttnOutput:
        divideRows(model.matrix(layer, BlockMatrix::AttnV), s);
        break;
    case ScaleSite::FfnOutput:
        divideRows(model.matrix(layer, BlockMatrix::FfnUp), s);
        break;
    }
}

} // namespace lathe
