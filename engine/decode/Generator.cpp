#include "decode/Generator.h"

namespace lathe {

double GenerationTimings::promptTokensPerSecond() const {
    const int ran = promptTokens - reusedPromptTokens;
    return promptSeconds > 0 && ran > 0 ? ran / promptSeconds : 0.0;
}

double GenerationTimings::decodeTokensPerSecond() const {
    return decodeSeconds > 0 && generatedTokens > 1 ? (generatedTokens - 1) / decodeSeconds : 0.0;
}

} // namespace lathe
