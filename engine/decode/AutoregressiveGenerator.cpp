#include "decode/AutoregressiveGenerator.h"

#include "core/Error.h"
#include "decode/Sampler.h"
#include "decode/StopStringFilter.h"
#include "tokenizer/IncrementalDetokenizer.h"
#include "tokenizer/Tokenizer.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <span>

namespace lathe {
namespace {

using Clock = std::chrono::steady_clock;

double secondsBetween(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

size_t commonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    const size_t n = std::min(a.size(), b.size());
    size_t i = 0;
    while (i < n && a[i] == b[i])
        ++i;
    return i;
}

} // namespace

AutoregressiveGenerator::AutoregressiveGenerator(LanguageModel& model, const Tokenizer& tokenizer,
                                                 KvCache& cache, int32_t seqId)
    : model_(model), tokenizer_(tokenizer), cache_(cache), seqId_(seqId) {}

void AutoregressiveGenerator::forgetCache() {
    if (cache_.hasSequence(seqId_)) cache_.removeSequence(seqId_);
    cached_.clear();
}

void AutoregressiveGenerator::setPrefillChunk(int rows) {
    if (rows < 1) fail(ErrorCategory::InvalidArgument, "prefill chunk must be >= 1 rows, got {}", rows);
    prefillChunk_ = rows;
}

void AutoregressiveGenerator::validate(const GenerationRequest& request) const {
    if (request.promptTokens.empty())
        fail(ErrorCategory::InvalidArgument, "the prompt holds no tokens (at least one is needed to start)");
    if (request.maxNewTokens < 0)
        fail(ErrorCategory::InvalidArgument, "max new tokens must be >= 0, got {}", request.maxNewTokens);
    const int vocab = model_.config().vocabSize;
    for (size_t i = 0; i < request.promptTokens.size(); ++i) {
        const int32_t token = request.promptTokens[i];
        if (token < 0 || token >= vocab)
            fail(ErrorCategory::InvalidArgument,
                 "prompt token {} at index {} is outside the vocabulary (size {})", token, i, vocab);
    }
    request.sampling.validate();
}

void AutoregressiveGenerator::syncWithCache() {
    if (size_t(cache_.length(seqId_)) != cached_.size()) forgetCache();
}

bool AutoregressiveGenerator::hasRoomFor(size_t count) const {
    const int contextLength = model_.config().contextLength;
    if (contextLength > 0 && cached_.size() + count > size_t(contextLength)) return false;

    if (count > size_t(cache_.capacityBlocks()) * size_t(cache_.blockTokens())) return false;
    return cache_.blocksNeeded(seqId_, int(count)) <= cache_.freeBlocks();
}

void AutoregressiveGenerator::run(const Batch& batch) {
    try {
        model_.forward(batch, cache_, logits_);
    } catch (...) {
        // Rows a failed forward appended are not known to hold valid keys and values.
        const size_t length = size_t(cache_.length(seqId_));
        if (length > cached_.size())
            cache_.truncate(seqId_, int(cached_.size()));
        else
            cached_.resize(length);
        throw;
    }
    cached_.insert(cached_.end(), batch.tokens.begin(), batch.tokens.end());
    const size_t want = batch.logitRows.size() * size_t(model_.config().vocabSize);
    if (logits_.size() < want)
        fail(ErrorCategory::Internal, "model returned {} logits, expected {} ({} rows of {})", logits_.size(),
             want, batch.logitRows.size(), model_.config().vocabSize);
}

GenerationResult AutoregressiveGenerator::generate(const GenerationRequest& request,
                                                   const TokenCallback& onToken, const CancelToken& cancel) {
    validate(request);
    Sampler sampler(request.sampling);
    StopStringFilter stopFilter(request.stopStrings);
    IncrementalDetokenizer detokenizer(tokenizer_);

    const Clock::time_point start = Clock::now();
    GenerationResult result;
    GenerationTimings& timings = result.timings;
    const std::vector<int32_t>& prompt = request.promptTokens;
    timings.promptTokens = int(prompt.size());

    // Reuse the cached prefix, always keeping at least the last prompt token to run.
    syncWithCache();
    const size_t keep = std::min(commonPrefix(cached_, prompt), prompt.size() - 1);
    if (cache_.hasSequence(seqId_) && size_t(cache_.length(seqId_)) > keep)
        cache_.truncate(seqId_, int(keep));
    cached_.resize(keep);
    timings.reusedPromptTokens = int(keep);

    if (!hasRoomFor(prompt.size() - keep)) {
        result.stopReason = StopReason::ContextFull;
        return result;
    }
    for (size_t from = keep; from < prompt.size(); from += size_t(prefillChunk_)) {
        if (cancel.isCancelled()) {
            result.stopReason = StopReason::Cancelled;
            timings.promptSeconds = secondsBetween(start, Clock::now());
            return result;
        }
        const size_t to = std::min(prompt.size(), from + size_t(prefillChunk_));
        Batch batch;
        for (size_t i = from; i < to; ++i)
            batch.add(prompt[i], int32_t(i), seqId_, i + 1 == prompt.size());
        run(batch);
    }
    timings.promptSeconds = secondsBetween(start, Clock::now());
    if (request.maxNewTokens == 0) {
        result.stopReason = StopReason::MaxTokens;
        return result;
    }

    std::vector<int32_t> history = prompt; // for the repetition penalty
    const std::span<const float> logits(logits_.data(), size_t(model_.config().vocabSize));
    Clock::time_point firstToken{}, lastToken{};
    // Text still inside the detokenizer or the stop filter once generation ends.
    auto drainText = [&] {
        std::string text = stopFilter.push(detokenizer.flush());
        if (!stopFilter.stopped()) text += stopFilter.flush();
        return text;
    };

    for (;;) {
        if (cancel.isCancelled()) {
            result.stopReason = StopReason::Cancelled;
            result.text += drainText();
            break;
        }
        const int32_t token = sampler.sample(logits, history);
        const Clock::time_point now = Clock::now();
        if (result.tokens.empty()) {
            firstToken = now;
            timings.timeToFirstTokenSeconds = secondsBetween(start, now);
        } else {
            timings.interTokenSeconds.push_back(secondsBetween(lastToken, now));
        }
        lastToken = now;
        result.tokens.push_back(token);
        history.push_back(token);

        std::string text = stopFilter.push(detokenizer.push(token));
        std::optional<StopReason> stop;
        if (stopFilter.stopped())
            stop = StopReason::StopString;
        else if (request.stopAtEndOfGeneration && tokenizer_.isEndOfGeneration(token))
            stop = StopReason::EndOfGeneration;
        else if (int(result.tokens.size()) >= request.maxNewTokens)
            stop = StopReason::MaxTokens;
        else if (!hasRoomFor(1))
            stop = StopReason::ContextFull;
        if (stop && *stop != StopReason::StopString) text += drainText();
        result.text += text;

        const TokenEvent event{token, std::move(text), int(result.tokens.size()) - 1,
                               secondsBetween(start, now)};
        if (onToken && !onToken(event) && !stop) {
            stop = StopReason::Cancelled;
            result.text += drainText();
        }
        if (stop) {
            result.stopReason = *stop;
            break;
        }
        Batch step;
        step.add(token, int32_t(cached_.size()), seqId_, true);
        run(step);
    }

    timings.generatedTokens = int(result.tokens.size());
    if (!result.tokens.empty()) timings.decodeSeconds = secondsBetween(firstToken, lastToken);
    return result;
}

} // namespace lathe
