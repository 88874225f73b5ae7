#include "decode/Generator.h"

namespace lathe {

const char* stopReasonName(StopReason reason) {
    switch (reason) {
    case StopReason::EndOfGeneration: return "end_of_generation";
    case StopReason::StopString: return "stop_string";
    case StopReason::MaxTokens: return "max_tokens";
    case StopReason::Cancelled: return "cancelled";
    case StopReason::ContextFull: return "context_full";
    }
    return "unknown";
}

double GenerationTimings::promptTokensPerSecond() const {
    const int ran = promptTokens - reusedPromptTokens;
    return promptSeconds > 0 && ran > 0 ? ran / promptSeconds : 0.0;
}

double GenerationTimings::decodeTokensPerSecond() const {
    return decodeSeconds > 0 && generatedTokens > 1 ? (generatedTokens - 1) / decodeSeconds : 0.0;
}

} // namespace lathe
