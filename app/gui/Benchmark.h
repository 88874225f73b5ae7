#pragma once
// The Benchmark action: a measured generation of N prompt tokens and M generated tokens, repeated,
// through the Session. Kept behind this one function so that it can call `lathe-cli bench`'s engine
// code once that exists. Qt-free.

#include "core/Cancel.h"
#include "core/Progress.h"
#include "core/Statistics.h"

#include <string>
#include <vector>

namespace lathe {
class Session;
}

namespace lathe::gui {

struct BenchSettings {
    int promptTokens = 128;
    int generatedTokens = 32;
    int repetitions = 3;
};

struct BenchResult {
    int promptTokens = 0; // the prompt actually measured (the tokenizer decides the exact count)
    int generatedTokens = 0;
    std::vector<double> promptTokensPerSecond; // one per repetition
    std::vector<double> decodeTokensPerSecond; // one per repetition
    std::vector<double> ttftMs;                // one per repetition
    std::vector<double> interTokenMs;          // every gap of every repetition
};

using lathe::mean;       // core/Statistics.h
using lathe::percentile;
using lathe::stddev;

// Throws lathe::Error (Cancelled when `cancel` fires between or during repetitions).
BenchResult runBenchmark(Session& session, const BenchSettings& settings, const ProgressFn& progress,
                         const CancelToken& cancel);

} // namespace lathe::gui
