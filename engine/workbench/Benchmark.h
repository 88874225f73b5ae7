#pragma once
// lathe-cli bench / the app's Benchmark action, measured the way llama-bench measures:
//  - pp N: N prompt tokens processed in one forward batch from an empty cache, tokens/s;
//  - tg N: N single-token decode steps from an empty cache, tokens/s;
// each after one warm-up run, repeated r times, reported as mean ± sample standard deviation.
// Tokenization and sampling are excluded (tokens are fixed pseudo-random ids, logits are computed but
// not sampled). Added: TTFT (prefill of the pp prompt plus the first decode step), inter-token latency
// percentiles over every tg step, peak resident memory, the machine's measured memory bandwidth and
// decode's share of the bandwidth roofline (tokens/s <= bandwidth / bytes read per token).

#include "core/Cancel.h"
#include "core/Progress.h"
#include "store/RunRecords.h"

#include <cstdint>
#include <string>
#include <vector>

namespace lathe {

class Transformer;
struct ModelFiles;

struct BenchSettings {
    int promptTokens = 512;    // pp N (0: skip)
    int generatedTokens = 128; // tg N (0: skip)
    int repetitions = 5;
    bool measureBandwidth = true;
};

struct BenchStat {
    double mean = 0;
    double stddev = 0; // sample standard deviation (0 for one value)
    std::vector<double> values;
};

struct BenchResult {
    BenchSettings settings;
    BenchStat promptTokensPerSecond; // pp
    BenchStat decodeTokensPerSecond; // tg
    BenchStat ttftMs;
    double interTokenP50Ms = 0;
    double interTokenP99Ms = 0;
    uint64_t peakRssBytes = 0;
    uint64_t weightBytes = 0;           // bytes of weights one decode step reads
    double bandwidthBytesPerSecond = 0; // measured, 0 when not measured
    double decodeRooflineTokensPerSecond = 0;
    double decodeRooflineShare = 0; // tg mean / roofline

    std::vector<RunMetric> metrics() const;
};

// Mean and sample standard deviation of the values (core/Statistics.h), keeping the values.
BenchStat benchStat(std::vector<double> values);

// Bytes a single-token decode step reads from the weights: every matrix once, the output projection
// (token_embd when tied) included, plus one embedding row.
uint64_t decodeWeightBytes(const ModelFiles& files);

// Read bandwidth of this machine's memory with `threads` threads streaming over a buffer much larger
// than the caches (best of a few passes), bytes per second.
double measureReadBandwidth(int threads);

// Throws lathe::Error (InvalidArgument for bad settings, Cancelled when cancel fires).
BenchResult runBenchmark(Transformer& model, const ModelFiles& files, int threads,
                         const BenchSettings& settings, const ProgressFn& progress,
                         const CancelToken& cancel);

} // namespace lathe
