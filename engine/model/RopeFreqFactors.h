#pragma once
// Llama-3 RoPE frequency scaling expressed as llama.cpp's per-pair frequency divisors
// (the rope_freqs.weight tensor its converter writes): theta_i = position * base^(-2i/nDims) / factor_i.

#include "model/ModelConfig.h"

#include <vector>

namespace lathe {

// nDims/2 divisors; all 1 when scaling.factor is 0 (no scaling).
std::vector<float> ropeLlama3FreqFactors(const RopeLlama3Scaling& scaling, int nDims, float freqBase);

} // namespace lathe
