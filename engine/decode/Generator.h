#pragma once
// The interface every decoding strategy implements (autoregressive sampling today; beam search,
// speculative decoding, Medusa heads and token trees later). A strategy turns a prompt into tokens,
// streaming each token's text through a callback, and reports why it stopped and how long it took.

#include "core/Cancel.h"
#include "decode/SamplingParams.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lathe {

struct GenerationRequest {
    std::vector<int32_t> promptTokens; // at least one token (the faces add BOS / the chat template)
    int maxNewTokens = 256;            // 0 = only prefill the prompt into the cache
    SamplingParams sampling;
    std::vector<std::string> stopStrings; // text after (and including) the first match is dropped
    bool stopAtEndOfGeneration = true;    // stop on the tokenizer's end-of-generation tokens
};

struct TokenEvent {
    int32_t token;
    std::string text; // complete UTF-8 released by this token; may be empty (held back or special)
    int index;        // 0-based index among the generated tokens
    double secondsSinceStart;
};

// Stored in the run store: never reorder.
enum class StopReason {
    EndOfGeneration, // the model produced an end-of-generation token (it is the last token)
    StopString,      // a stop string appeared in the text
    MaxTokens,       // maxNewTokens were generated
    Cancelled,       // the cancel token fired or the callback returned false
    ContextFull,     // the KV cache or the model's context length has no room for another token
};
// Stable text names ("end_of_generation", "stop_string", ...) for CLI output and the run store.
const char* stopReasonName(StopReason reason);


struct GenerationTimings {
    int promptTokens = 0;
    int reusedPromptTokens = 0; // prompt tokens found in the KV cache and not run again
    int generatedTokens = 0;
    double promptSeconds = 0;              // prefill of the tokens not reused
    double timeToFirstTokenSeconds = 0;    // start of generate() to the first token sampled
    double decodeSeconds = 0;              // first token sampled to the last token sampled
    std::vector<double> interTokenSeconds; // gap before each token after the first

    // (promptTokens - reusedPromptTokens) / promptSeconds; 0 when nothing was timed.
    double promptTokensPerSecond() const;
    // Tokens after the first / decodeSeconds (the first token's cost is prefill); 0 when untimed.
    double decodeTokensPerSecond() const;
};

struct GenerationResult {
    std::vector<int32_t> tokens; // generated tokens, including a final end-of-generation token
    std::string text;            // their text, the matched stop string and anything after it removed
    StopReason stopReason = StopReason::MaxTokens;
    GenerationTimings timings;
};

// Called once per generated token; return false to stop (StopReason::Cancelled).
using TokenCallback = std::function<bool(const TokenEvent&)>;

class Generator {
public:
    virtual ~Generator() = default;
    virtual GenerationResult generate(const GenerationRequest& request, const TokenCallback& onToken,
                                      const CancelToken& cancel) = 0;
};

} // namespace lathe
