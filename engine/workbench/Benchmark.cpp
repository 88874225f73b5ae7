#include "workbench/Benchmark.h"

#include "core/Statistics.h"
#include "core/ThreadPool.h"
#include "io/ModelFiles.h"
#include "model/KvCache.h"
#include "model/Transformer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>
#include <numeric>
#include <random>
#include <sys/resource.h>

namespace lathe {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<int32_t> pseudoRandomTokens(int count, int vocabSize, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int32_t> pick(0, vocabSize - 1);
    std::vector<int32_t> tokens(size_t(std::max(count, 0)));
    for (int32_t& t : tokens)
        t = pick(rng);
    return tokens;
}

// VmHWM (it can be reset through /proc/self/clear_refs, so that one process can measure several models
// one after another), else the lifetime peak from getrusage.
uint64_t peakRss() {
    if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
        char line[256];
        unsigned long long kib = 0;
        bool found = false;
        while (!found && std::fgets(line, sizeof line, f))
            found = std::sscanf(line, "VmHWM: %llu kB", &kib) == 1;
        std::fclose(f);
        if (found) return uint64_t(kib) * 1024;
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return uint64_t(usage.ru_maxrss) * 1024; // Linux reports KiB
}

// One pp measurement: the whole prompt in one batch from an empty cache.
double timePrompt(Transformer& model, const std::vector<int32_t>& prompt, std::vector<float>& logits) {
    KvCache cache = model.makeCache(int(prompt.size()) + 1);
    const Batch batch = Batch::sequence(prompt, 0, 0);
    const auto start = Clock::now();
    model.forward(batch, cache, logits);
    return secondsSince(start);
}

// One tg measurement: n single-token steps from an empty cache; returns each step's seconds.
std::vector<double> timeDecode(Transformer& model, int n, int vocab, std::vector<float>& logits,
                               const CancelToken& cancel) {
    KvCache cache = model.makeCache(n + 1);
    std::vector<double> steps;
    int32_t token = 1 % vocab;
    for (int i = 0; i < n; ++i) {
        cancel.throwIfCancelled();
        Batch batch;
        batch.add(token, i, 0, true);
        const auto start = Clock::now();
        model.forward(batch, cache, logits);
        steps.push_back(secondsSince(start));
        token = int32_t((token * 7919 + 17) % vocab); // fixed token stream, no sampling
    }
    return steps;
}

} // namespace

BenchStat benchStat(std::vector<double> values) {
    BenchStat s;
    s.mean = mean(values);
    s.stddev = stddev(values);
    s.values = std::move(values);
    return s;
}

uint64_t decodeWeightBytes(const ModelFiles& files) {
    uint64_t bytes = 0;
    for (const auto& [name, tensor] : files.tensors) {
        if (name == "token_embd.weight") continue;
        bytes += tensor.nbytes;
    }
    const TensorView& embd = files.tensor("token_embd.weight");
    bytes += embd.rowStride(); // the one embedding row looked up
    if (files.config.tiedEmbeddings || !files.findTensor("output.weight")) bytes += embd.nbytes; // logits
    return bytes;
}

double measureReadBandwidth(int threads) {
    ThreadPool pool(threads);
    constexpr size_t kFloats = size_t(256) << 20 >> 2; // 256 MiB
    std::vector<float> buffer(kFloats, 1.0f);
    std::vector<double> partial(size_t(pool.threadCount()), 0.0);
    double best = 0;
    for (int pass = 0; pass < 5; ++pass) {
        const auto start = Clock::now();
        pool.parallelFor(int64_t(kFloats / 64), [&](int64_t begin, int64_t end, int thread) {
            // Eight independent sums so the adds do not serialise; one value per 64-byte line is
            // enough to pull the whole line through the memory bus, the rest keeps it honest.
            float acc[8] = {};
            for (int64_t line = begin; line < end; ++line) {
                const float* p = buffer.data() + line * 64;
                for (int i = 0; i < 64; i += 8)
                    for (int j = 0; j < 8; ++j)
                        acc[j] += p[i + j];
            }
            partial[size_t(thread)] +=
                double(acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7]);
        });
        const double seconds = secondsSince(start);
        best = std::max(best, double(kFloats * sizeof(float)) / seconds);
    }
    // Keep the sums observable so the loads cannot be optimised away.
    if (std::accumulate(partial.begin(), partial.end(), 0.0) < 0) return 0;
    return best;
}

BenchResult runBenchmark(Transformer& model, const ModelFiles& files, int threads,
                         const BenchSettings& settings, const ProgressFn& progress,
                         const CancelToken& cancel) {
    if (settings.promptTokens < 0 || settings.generatedTokens < 0 || settings.repetitions < 1 ||
        settings.promptTokens + settings.generatedTokens == 0)
        fail(ErrorCategory::InvalidArgument,
             "bench needs -p >= 0, -n >= 0 (not both 0) and -r >= 1, got -p {} -n {} -r {}",
             settings.promptTokens, settings.generatedTokens, settings.repetitions);
    const int context = model.config().contextLength;
    if (context > 0 && std::max(settings.promptTokens, settings.generatedTokens) + 1 > context)
        fail(ErrorCategory::InvalidArgument, "bench: {} tokens do not fit the model's context of {}",
             std::max(settings.promptTokens, settings.generatedTokens), context);

    BenchResult result;
    result.settings = settings;
    const int vocab = model.config().vocabSize;
    std::vector<float> logits;
    const int steps =
        (settings.repetitions + 1) * ((settings.promptTokens > 0) + (settings.generatedTokens > 0));
    int done = 0;
    auto advance = [&](std::string_view stage) { reportProgress(progress, double(done++) / steps, stage); };

    std::vector<double> pp, tg, ttft, gaps;
    for (int rep = 0; rep <= settings.repetitions; ++rep) { // rep 0 is the warm-up
        const bool warmUp = rep == 0;
        const std::string label =
            warmUp ? "warm-up" : fmt::format("repetition {} of {}", rep, settings.repetitions);
        double promptSeconds = 0;
        if (settings.promptTokens > 0) {
            cancel.throwIfCancelled();
            advance(fmt::format("pp{} {}", settings.promptTokens, label));
            const auto prompt = pseudoRandomTokens(settings.promptTokens, vocab, uint64_t(rep) + 1);
            promptSeconds = timePrompt(model, prompt, logits);
            if (!warmUp) pp.push_back(settings.promptTokens / promptSeconds);
        }
        if (settings.generatedTokens > 0) {
            cancel.throwIfCancelled();
            advance(fmt::format("tg{} {}", settings.generatedTokens, label));
            const std::vector<double> stepSeconds =
                timeDecode(model, settings.generatedTokens, vocab, logits, cancel);
            if (!warmUp) {
                const double total = std::accumulate(stepSeconds.begin(), stepSeconds.end(), 0.0);
                tg.push_back(settings.generatedTokens / total);
                for (double s : stepSeconds)
                    gaps.push_back(s * 1e3);
                ttft.push_back((promptSeconds + stepSeconds.front()) * 1e3);
            }
        }
    }
    result.promptTokensPerSecond = benchStat(pp);
    result.decodeTokensPerSecond = benchStat(tg);
    result.ttftMs = benchStat(ttft);
    result.interTokenP50Ms = percentile(gaps, 50);
    result.interTokenP99Ms = percentile(gaps, 99);
    result.weightBytes = decodeWeightBytes(files);
    result.peakRssBytes = peakRss(); // before the bandwidth buffer, which is not the model's
    if (settings.measureBandwidth) {
        cancel.throwIfCancelled();
        advance("memory bandwidth");
        // A device backend measures its own memory; the CPU backend's is the host's.
        const double deviceBandwidth = model.backend().memoryReadBandwidth();
        result.bandwidthBytesPerSecond =
            deviceBandwidth > 0 ? deviceBandwidth : measureReadBandwidth(threads);
        result.decodeRooflineTokensPerSecond = result.bandwidthBytesPerSecond / double(result.weightBytes);
        if (result.decodeRooflineTokensPerSecond > 0)
            result.decodeRooflineShare =
                result.decodeTokensPerSecond.mean / result.decodeRooflineTokensPerSecond;
    }
    reportProgress(progress, 1.0, "done");
    return result;
}

std::vector<RunMetric> BenchResult::metrics() const {
    std::vector<RunMetric> m;
    if (settings.promptTokens > 0) {
        m.push_back(
            {fmt::format("pp{}_tokens_per_s", settings.promptTokens), promptTokensPerSecond.mean, "tok/s"});
        m.push_back({fmt::format("pp{}_tokens_per_s_sd", settings.promptTokens), promptTokensPerSecond.stddev,
                     "tok/s"});
    }
    if (settings.generatedTokens > 0) {
        m.push_back({fmt::format("tg{}_tokens_per_s", settings.generatedTokens), decodeTokensPerSecond.mean,
                     "tok/s"});
        m.push_back({fmt::format("tg{}_tokens_per_s_sd", settings.generatedTokens),
                     decodeTokensPerSecond.stddev, "tok/s"});
        m.push_back({"decode_tokens_per_s", decodeTokensPerSecond.mean, "tok/s"});
        m.push_back({"itl_p50_ms", interTokenP50Ms, "ms"});
        m.push_back({"itl_p99_ms", interTokenP99Ms, "ms"});
    }
    if (!ttftMs.values.empty()) m.push_back({"ttft_ms", ttftMs.mean, "ms"});
    if (settings.promptTokens > 0) m.push_back({"prompt_tokens_per_s", promptTokensPerSecond.mean, "tok/s"});
    m.push_back({"peak_rss_bytes", double(peakRssBytes), "bytes"});
    m.push_back({"decode_weight_bytes", double(weightBytes), "bytes"});
    if (bandwidthBytesPerSecond > 0) {
        m.push_back({"memory_bandwidth_gb_per_s", bandwidthBytesPerSecond / 1e9, "GB/s"});
        m.push_back({"decode_roofline_tokens_per_s", decodeRooflineTokensPerSecond, "tok/s"});
        m.push_back({"decode_roofline_share", decodeRooflineShare, "ratio"});
    }
    return m;
}

} // namespace lathe
