#include "decode/Sampler.h"

#include "core/Error.h"

#include <algorithm>
#include <cmath>

namespace lathe {
namespace {

struct Scored {
    int32_t token;
    float logit;
};

bool moreLikely(const Scored& a, const Scored& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.token < b.token);
}

// exp(l - max) / sum over `scored` (sorted, so scored[0] holds the max), in double so that long tails
// of tiny probabilities still add up to 1.
std::vector<double> softmax(const std::vector<Scored>& scored, double invTemperature) {
    std::vector<double> probs(scored.size());
    const double maxLogit = scored.front().logit;
    double sum = 0.0;
    for (size_t i = 0; i < scored.size(); ++i) {
        probs[i] = std::exp((double(scored[i].logit) - maxLogit) * invTemperature);
        sum += probs[i];
    }
    for (double& p : probs)
        p /= sum;
    return probs;
}

} // namespace

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
    params_.validate();
}

void Sampler::applyRepeatPenalty(std::span<float> logits, std::span<const int32_t> history, float penalty,
                                 int lastN) {
    if (penalty == 1.0f || lastN == 0 || history.empty()) return;
    const size_t window = lastN < 0 ? history.size() : std::min(history.size(), size_t(lastN));
    std::vector<int32_t> distinct(history.end() - std::ptrdiff_t(window), history.end());
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    for (int32_t token : distinct) {
        if (token < 0 || size_t(token) >= logits.size()) continue; // e.g. a tokenizer-only special id
        float& l = logits[size_t(token)];
        l = l > 0.0f ? l / penalty : l * penalty;
    }
}

std::vector<TokenProb> Sampler::candidates(std::span<const float> logits,
                                           std::span<const int32_t> history) const {
    work_.assign(logits.begin(), logits.end());
    applyRepeatPenalty(work_, history, params_.repeatPenalty, params_.repeatLastN);

    std::vector<Scored> scored;
    scored.reserve(work_.size());
    for (size_t i = 0; i < work_.size(); ++i)
        if (!std::isnan(work_[i]) && work_[i] != -INFINITY) scored.push_back({int32_t(i), work_[i]});
    if (scored.empty())
        fail(ErrorCategory::InvalidArgument, "sampler: all {} logits are NaN or -inf", logits.size());

    if (params_.isGreedy()) {
        const Scored best = *std::min_element(scored.begin(), scored.end(), moreLikely);
        return {{best.token, 1.0f}};
    }

    // Top-k. Only the survivors need ordering, which keeps the usual k=40 case cheap.
    if (params_.topK > 0 && size_t(params_.topK) < scored.size()) {
        std::partial_sort(scored.begin(), scored.begin() + params_.topK, scored.end(), moreLikely);
        scored.resize(size_t(params_.topK));
    } else {
        std::sort(scored.begin(), scored.end(), moreLikely);
    }

    std::vector<double> probs = softmax(scored, 1.0);
    size_t keep = scored.size();
    if (params_.topP < 1.0f) {
        double cumulative = 0.0;
        for (size_t i = 0; i < keep; ++i) {
            cumulative += probs[i];
            if (cumulative >= double(params_.topP)) {
                keep = i + 1;
                break;
            }
        }
    }
    if (params_.minP > 0.0f) {
        // Probabilities are not renormalised after top-p: min-p compares ratios to the maximum.
        const double threshold = double(params_.minP) * probs[0];
        size_t i = 1;
        while (i < keep && probs[i] >= threshold)
            ++i;
        keep = i;
    }
    scored.resize(keep);

    probs = softmax(scored, 1.0 / double(params_.temperature));
    std::vector<TokenProb> out(keep);
    for (size_t i = 0; i < keep; ++i)
        out[i] = {scored[i].token, float(probs[i])};
    return out;
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
    const std::vector<TokenProb> cands = candidates(logits, history);
    if (params_.isGreedy()) return cands.front().token;
    const double u = uniform();
    double cumulative = 0.0;
    for (const TokenProb& c : cands) {
        cumulative += c.prob;
        if (u < cumulative) return c.token;
    }
    return cands.back().token; // u fell into the rounding gap below 1
}

double Sampler::uniform() {
    return double(rng_() >> 11) * 0x1.0p-53;
}

} // namespace lathe
