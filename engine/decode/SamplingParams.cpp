#include "decode/SamplingParams.h"

#include "core/Error.h"

#include <cmath>

namespace lathe {

void SamplingParams::validate() const {
    if (!(temperature >= 0.0f) || !std::isfinite(temperature))
        fail(ErrorCategory::InvalidArgument, "temperature must be >= 0, got {}", temperature);
    if (topK < 0) fail(ErrorCategory::InvalidArgument, "top-k must be >= 0 (0 = off), got {}", topK);
    if (!(topP > 0.0f && topP <= 1.0f))
        fail(ErrorCategory::InvalidArgument, "top-p must be in (0, 1] (1 = off), got {}", topP);
    if (!(minP >= 0.0f && minP <= 1.0f))
        fail(ErrorCategory::InvalidArgument, "min-p must be in [0, 1] (0 = off), got {}", minP);
    if (!(repeatPenalty > 0.0f) || !std::isfinite(repeatPenalty))
        fail(ErrorCategory::InvalidArgument, "repeat penalty must be > 0 (1 = off), got {}", repeatPenalty);
    if (repeatLastN < -1)
        fail(ErrorCategory::InvalidArgument, "repeat-last-n must be >= -1 (-1 = whole history), got {}",
             repeatLastN);
}

} // namespace lathe
