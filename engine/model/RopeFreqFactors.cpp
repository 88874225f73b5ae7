#include "model/RopeFreqFactors.h"

#include <cmath>
#include <numbers>

namespace lathe {

// Follows transformers' _compute_llama3_parameters: long wavelengths are slowed by `factor`, short
// ones kept, and the band between is interpolated smoothly.
std::vector<float> ropeLlama3FreqFactors(const RopeLlama3Scaling& scaling, int nDims, float freqBase) {
    std::vector<float> factors(size_t(nDims / 2), 1.0f);
    if (scaling.factor == 0.0f) return factors;
    const double lowFreqWavelen = scaling.originalContext / double(scaling.lowFreqFactor);
    const double highFreqWavelen = scaling.originalContext / double(scaling.highFreqFactor);
    for (int i = 0; i < nDims / 2; ++i) {
        const double freq = std::pow(double(freqBase), -2.0 * i / nDims);
        const double wavelen = 2.0 * std::numbers::pi / freq;
        double scaled = freq;
        if (wavelen > lowFreqWavelen) {
            scaled = freq / scaling.factor;
        } else if (wavelen >= highFreqWavelen) {
            const double smooth = (scaling.originalContext / wavelen - scaling.lowFreqFactor) /
                                  (scaling.highFreqFactor - scaling.lowFreqFactor);
            scaled = (1.0 - smooth) * freq / scaling.factor + smooth * freq;
        }
        factors[size_t(i)] = float(freq / scaled);
    }
    return factors;
}

} // namespace lathe
