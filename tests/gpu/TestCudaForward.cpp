// The whole decoder on cuda:0 against the CPU backend's float path, on small synthetic models (head
// sizes 64 and 128, weights in F16, Q8_0 and Q4_0): a prefill (the GEMM path), decode steps (the
// mat-vec path, activations never leaving the device), a fork whose shared last block is copied on
// write, two sequences in one batch, and a truncate followed by a short prefill. Logits are compared
// by normalised squared error; the greedy token must agree wherever the CPU's top-2 margin is clear.
// Exits 77 (skipped) without a usable CUDA device.

#include "GpuTest.h"
#include "UsableDevice.h"
#include "backend/cpu/CpuBackend.h"
#include "backend/cuda/CudaBackend.h"
#include "backend/cuda/CudaDevices.h"
#include "io/ModelFiles.h"
#include "io/SyntheticModel.h"
#include "model/Batch.h"
#include "model/KvCache.h"
#include "model/Transformer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <unistd.h>

using namespace lathe;

namespace {

int gDevice = 0;
// fp16 GEMM inputs on the device, float elsewhere; one token against Q4/Q8 weights quantizes x to
// int8 per 32 values (as llama.cpp's mmvq and its CPU path do), which the random weights amplify.
double toleranceFor(DType dtype) {
    return dtype == DType::F16 ? 1e-4 : 1e-3;
}

SyntheticModelShape shapeWithHeads(int headDim) {
    SyntheticModelShape s = *syntheticModelShape("smollm2-135m");
    s.config.nLayers = 3;
    s.config.nEmbd = 256;
    s.config.headDim = headDim;
    s.config.ropeDims = headDim;
    s.config.nHeads = 256 / headDim;
    s.config.nHeadsKv = s.config.nHeads / 2 > 0 ? s.config.nHeads / 2 : 1;
    s.config.nFf = 512;
    s.config.vocabSize = 30000;
    s.config.tiedEmbeddings = false;
    return s;
}

double nmse(const std::vector<float>& got, const std::vector<float>& want) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
        if (!std::isfinite(got[i])) return INFINITY;
        num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
        den += double(want[i]) * want[i];
    }
    return den > 0 ? num / den : num;
}

// Greedy agreement on each logit row, unless the CPU's best two are within `margin` (a share of the
// row's range) of each other.
bool sameChoice(const std::vector<float>& got, const std::vector<float>& want, int vocab, float margin) {
    for (size_t row = 0; row * size_t(vocab) < want.size(); ++row) {
        const float* w = want.data() + row * size_t(vocab);
        const float* g = got.data() + row * size_t(vocab);
        const int best = int(std::max_element(w, w + vocab) - w);
        const int gotBest = int(std::max_element(g, g + vocab) - g);
        if (best == gotBest) continue;
        const float range = w[best] - *std::min_element(w, w + vocab);
        if (std::fabs(w[best] - w[gotBest]) > margin * range) return false;
    }
    return true;
}

struct Pair {
    Transformer& cpu;
    Transformer& gpu;
    KvCache& cpuCache;
    KvCache& gpuCache;
    const char* what;
    double tolerance;

    // Runs the batch on both; returns the CPU's logits after comparing.
    std::vector<float> step(const Batch& batch, const std::string& label) {
        std::vector<float> want, got;
        cpu.forward(batch, cpuCache, want);
        gpu.forward(batch, gpuCache, got);
        CHECK(got.size() == want.size());
        if (got.size() != want.size()) return want;
        const double e = nmse(got, want);
        std::printf("  %-28s %-34s nmse %.3e\n", what, label.c_str(), e);
        CHECK(e < tolerance);
        CHECK(sameChoice(got, want, cpu.config().vocabSize, 0.02f));
        return want;
    }
};

int argmaxRow(const std::vector<float>& logits, int vocab, int row) {
    const float* r = logits.data() + size_t(row) * size_t(vocab);
    return int(std::max_element(r, r + vocab) - r);
}

} // namespace

TEST_CASE(decoderMatchesCpuInEachFormat) {
    for (int headDim : {64, 128})
        for (DType dtype : {DType::F16, DType::Q8_0, DType::Q4_0}) {
            const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                               ("lathe-forward-" + std::to_string(getpid()) + ".gguf");
            writeSyntheticModel(path, shapeWithHeads(headDim), dtype, 11);
            {
                const ModelFiles files = openModelFiles(path);
                auto cpuBackend = makeCpuBackend(CpuBackendOptions{2, false});
                auto gpuBackend = makeCudaBackend(gDevice);
                Transformer cpu(files, *cpuBackend), gpu(files, *gpuBackend);
                KvCache cpuCache = cpu.makeCache(512, 16), gpuCache = gpu.makeCache(512, 16);
                const std::string what = fmt::format("d={} {}", headDim, dtypeName(dtype));
                Pair pair{cpu, gpu, cpuCache, gpuCache, what.c_str(), toleranceFor(dtype)};
                const int vocab = files.config.vocabSize;

                std::vector<int32_t> prompt;
                for (int i = 0; i < 40; ++i)
                    prompt.push_back(int32_t((i * 7919 + 13) % vocab));
                std::vector<float> logits =
                    pair.step(Batch::sequence(prompt, 0, 0, true), "prefill 40, all rows");
                int position = 40;
                for (int s = 0; s < 6; ++s) {
                    const int token = argmaxRow(logits, vocab, int(logits.size() / size_t(vocab)) - 1);
                    logits = pair.step(Batch::sequence({token}, position++, 0), fmt::format("decode {}", s));
                }
                // Fork at 46 (mid-block): both sequences' next rows copy the shared block on write.
                cpuCache.fork(0, 1);
                gpuCache.fork(0, 1);
                Batch two;
                two.add(101, position, 0, true);
                two.add(202, position, 1, true);
                pair.step(two, "fork, two sequences");
                ++position;
                for (int s = 0; s < 3; ++s) {
                    Batch both;
                    both.add(300 + s, position, 0, true);
                    both.add(400 + s, position, 1, true);
                    pair.step(both, fmt::format("two sequences, decode {}", s));
                    ++position;
                }
                // A rejected speculation: back to 30 tokens, then a 3-row prefill (the small-batch path).
                cpuCache.truncate(1, 30);
                gpuCache.truncate(1, 30);
                pair.step(Batch::sequence({5, 6, 7}, 30, 1, true), "truncate to 30, 3 rows");
                pair.step(Batch::sequence({8}, position, 0), "first sequence unaffected");
            }
            std::filesystem::remove(path);
        }
}

// A step replayed from a CUDA graph launches the same kernels with the same parameters as one whose
// ops launch directly (LATHE_CUDA_GRAPHS=0), so the logits must be bit-identical: over a decode that
// crosses attention's split buckets (256 and 512 visible slots), two-sequence and 3-row steps, and a
// fork (whose block copies run outside the graph).
TEST_CASE(graphReplayedStepsEqualDirectLaunches) {
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("lathe-graphs-" + std::to_string(getpid()) + ".gguf");
    writeSyntheticModel(path, shapeWithHeads(64), DType::Q4_0, 5);
    {
        const ModelFiles files = openModelFiles(path);
        setenv("LATHE_CUDA_GRAPHS", "0", 1);
        auto directBackend = makeCudaBackend(gDevice);
        unsetenv("LATHE_CUDA_GRAPHS");
        auto graphBackend = makeCudaBackend(gDevice);
        Transformer direct(files, *directBackend), graphs(files, *graphBackend);
        KvCache directCache = direct.makeCache(1024, 16), graphCache = graphs.makeCache(1024, 16);
        const int vocab = files.config.vocabSize;
        int mismatches = 0, steps = 0;
        auto both = [&](const Batch& batch) {
            std::vector<float> a, b;
            direct.forward(batch, directCache, a);
            graphs.forward(batch, graphCache, b);
            ++steps;
            if (a.size() != b.size() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) != 0)
                ++mismatches;
            return a;
        };
        std::vector<int32_t> prompt;
        for (int i = 0; i < 240; ++i)
            prompt.push_back(int32_t((i * 104729 + 7) % vocab));
        std::vector<float> logits = both(Batch::sequence(prompt, 0, 0));
        int position = 240;
        for (int s = 0; s < 300; ++s) { // 241 .. 540 visible slots: splits 1, 2, then 3 (bucket 4)
            const int token = argmaxRow(logits, vocab, 0);
            logits = both(Batch::sequence({token}, position++, 0));
        }
        directCache.fork(0, 1);
        graphCache.fork(0, 1);
        for (int s = 0; s < 4; ++s) {
            Batch two;
            two.add(50 + s, position, 0, true);
            two.add(60 + s, position, 1, true);
            both(two);
            ++position;
        }
        both(Batch::sequence({1, 2, 3}, position, 0, true));
        const CudaGraphStats stats = cudaGraphStats(*graphBackend);
        const CudaGraphStats none = cudaGraphStats(*directBackend);
        std::printf("  %d steps, %d differ; graphs: %zu replayed, %zu captured\n", steps, mismatches,
                    stats.replays, stats.captures);
        CHECK(mismatches == 0);
        CHECK(none.replays == 0 && none.captures == 0);
        // The decode steps replay: one capture per split bucket and batch shape, not one per step.
        CHECK(stats.captures >= 3 && stats.captures <= 12);
        CHECK(stats.replays + stats.captures >= 300);
    }
    std::filesystem::remove(path);
}

int main() {
    const std::optional<cuda::CudaDeviceInfo> device = gputest::usableDevice();
    if (!device) return gputest::kSkipped;
    gDevice = device->ordinal;
    return gputest::runAll();
}
