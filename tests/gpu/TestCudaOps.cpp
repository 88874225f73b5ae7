// Every CUDA backend op against the CPU reference backend (float reference mode), over shapes,
// weight formats and masks: NaN/Inf parity first, then the normalised mean squared error
// NMSE = sum (gpu - cpu)^2 / sum cpu^2 against a per-op tolerance. Also the device-only pieces the
// Backend interface does not expose: sampling (against decode/Sampler's candidates and draw rule) and
// CUDA graph capture/replay. Exits 77 (skipped) with the reason when no usable CUDA device exists.

#include "GpuTest.h"
#include "UsableDevice.h"
#include "backend/Backend.h"
#include "backend/cpu/CpuBackend.h"
#include "backend/cuda/CudaBackend.h"
#include "backend/cuda/CudaCheck.h"
#include "backend/cuda/CudaDevices.h"
#include "backend/cuda/CudaGraph.h"
#include "decode/Sampler.h"
#include "io/Quants.h"
#include "kernels/Elementwise.cuh"
#include "kernels/Sampling.cuh"
#include "model/KvCache.h"

#include <cmath>
#include <fmt/format.h>
#include <memory>
#include <random>

using namespace lathe;

namespace {

std::unique_ptr<Backend> gCpu, gGpu;

constexpr double kTolFloat = 1e-9; // same math, different summation order
constexpr double kTolGemm = 1e-5;  // activations rounded to fp16/bf16 for tensor cores
constexpr double kTolTrans = 1e-8; // transcendental functions (exp, sin/cos)
constexpr double kTolInt8 = 1e-4;  // up to 8 tokens on Q4/Q8 weights: x quantized to int8 per 32 (~1.5e-5)

std::vector<float> randomFloats(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-scale, scale);
    std::vector<float> v(n);
    for (float& x : v)
        x = dist(rng);
    return v;
}

bool compare(const char* what, const std::vector<float>& gpu, const std::vector<float>& cpu,
             double tolerance) {
    if (gpu.size() != cpu.size()) {
        std::printf("  %s: sizes differ\n", what);
        return false;
    }
    double err = 0.0, ref = 0.0;
    for (size_t i = 0; i < cpu.size(); ++i) {
        if (std::isfinite(gpu[i]) != std::isfinite(cpu[i]) || std::isnan(gpu[i]) != std::isnan(cpu[i])) {
            std::printf("  %s: NaN/Inf parity broken at %zu (gpu %g, cpu %g)\n", what, i, gpu[i], cpu[i]);
            return false;
        }
        if (!std::isfinite(cpu[i])) continue;
        err += double(gpu[i] - cpu[i]) * double(gpu[i] - cpu[i]);
        ref += double(cpu[i]) * double(cpu[i]);
    }
    const double nmse = ref > 0.0 ? err / ref : err;
    const bool ok = nmse <= tolerance;
    std::printf("  %-44s nmse %.3e (tolerance %.0e)%s\n", what, nmse, tolerance, ok ? "" : "  <-- FAIL");
    return ok;
}

// A weight in a given format held in host memory, as a model file would hold it.
struct HostWeight {
    std::vector<uint8_t> bytes;
    TensorView view;
    HostWeight(DType dtype, int64_t cols, int64_t rows, uint32_t seed, float scale = 0.05f) {
        const std::vector<float> values = randomFloats(size_t(cols * rows), seed, scale);
        const uint64_t stride = rowBytes(dtype, uint64_t(cols));
        bytes.resize(stride * uint64_t(rows));
        for (int64_t r = 0; r < rows; ++r)
            quantizeRow(dtype, values.data() + r * cols, bytes.data() + uint64_t(r) * stride, cols);
        view.name = "test.weight";
        view.dtype = dtype;
        view.nDims = rows == 1 ? 1 : 2;
        view.shape = {cols, rows, 1, 1};
        view.data = bytes.data();
        view.nbytes = bytes.size();
    }
};

ModelConfig attentionConfig(int nHeadsKv, int headDim) {
    ModelConfig c;
    c.nLayers = 2;
    c.nHeads = nHeadsKv * 3;
    c.nHeadsKv = nHeadsKv;
    c.headDim = headDim;
    c.nEmbd = c.nHeads * headDim;
    return c;
}

} // namespace

TEST_CASE(matmulEveryFormatAndBatch) {
    for (DType dtype :
         {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::Q5_0})
        for (auto [cols, rows] : {std::pair<int64_t, int64_t>{64, 32}, {576, 1536}, {4096, 96}})
            for (int nTokens : {1, 3, 8, 17, 64}) {
                HostWeight w(dtype, cols, rows, uint32_t(cols + rows));
                HostWeight bias(DType::F32, rows, 1, 7);
                const std::vector<float> x = randomFloats(size_t(nTokens * cols), uint32_t(nTokens));
                auto wc = gCpu->prepareWeight(w.view), wg = gGpu->prepareWeight(w.view);
                auto bc = gCpu->prepareWeight(bias.view), bg = gGpu->prepareWeight(bias.view);
                std::vector<float> cpu(size_t(nTokens * rows)), gpu(cpu.size());
                gCpu->matmul(*wc, x, nTokens, cpu, bc.get());
                gGpu->matmul(*wg, x, nTokens, gpu, bg.get());
                const std::string what =
                    fmt::format("matmul {} {}x{} t={}", dtypeName(dtype), rows, cols, nTokens);
                const bool gemmPath = nTokens > 8 && dtype != DType::F32;
                const bool int8Path =
                    nTokens <= 8 && (dtype == DType::Q4_0 || dtype == DType::Q4_1 || dtype == DType::Q8_0);
                CHECK(compare(what.c_str(), gpu, cpu,
                              gemmPath   ? kTolGemm
                              : int8Path ? kTolInt8
                                         : kTolFloat * 100));
            }
}

// SmoothQuant W8A8: per-token int8 activations, CUDA against the CPU backend's integer path in the same
// mode. An outlier channel makes one scale per row differ from one per block, so the mode must matter.
TEST_CASE(matmulPerTokenInt8Activations) {
    std::unique_ptr<Backend> cpuPerToken = makeCpuBackend(CpuBackendOptions{2, true});
    std::unique_ptr<Backend> cpuPerBlock = makeCpuBackend(CpuBackendOptions{2, true});
    cpuPerToken->setActivationQuantization(ActivationQuantization::PerTokenInt8);
    gGpu->setActivationQuantization(ActivationQuantization::PerTokenInt8);
    for (DType dtype : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0})
        for (int nTokens : {1, 3, 64}) {
            const int64_t cols = 576, rows = 1536;
            HostWeight w(dtype, cols, rows, 5);
            std::vector<float> x = randomFloats(size_t(nTokens * cols), uint32_t(100 + nTokens));
            for (int t = 0; t < nTokens; ++t)
                x[size_t(t * cols + 7)] = 40.0f; // the outlier channel
            auto wc = cpuPerToken->prepareWeight(w.view), wb = cpuPerBlock->prepareWeight(w.view);
            auto wg = gGpu->prepareWeight(w.view);
            std::vector<float> cpu(size_t(nTokens * rows)), block(cpu.size()), gpu(cpu.size());
            cpuPerToken->matmul(*wc, x, nTokens, cpu);
            cpuPerBlock->matmul(*wb, x, nTokens, block);
            gGpu->matmul(*wg, x, nTokens, gpu);
            const bool int8Path = nTokens == 1 && dtype != DType::Q5_0;
            CHECK(compare(fmt::format("per-token {} t={}", dtypeName(dtype), nTokens).c_str(), gpu, cpu,
                          nTokens > 8 ? kTolGemm
                          : int8Path  ? 1e-10
                                      : kTolFloat * 100));
            // Per-block activations give another result (by far more than the tolerances): the mode is
            // applied, not ignored.
            double err = 0.0, ref = 0.0;
            for (size_t i = 0; i < cpu.size(); ++i) {
                err += double(block[i] - cpu[i]) * double(block[i] - cpu[i]);
                ref += double(cpu[i]) * double(cpu[i]);
            }
            std::printf("    per-block differs from per-token by nmse %.3e\n", err / ref);
            CHECK(err / ref > 1e-4);
        }
    gGpu->setActivationQuantization(ActivationQuantization::PerBlock);
}

TEST_CASE(embedRmsNormSwigluAdd) {
    for (DType dtype : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0}) {
        HostWeight table(dtype, 576, 1000, 3);
        auto tc = gCpu->prepareWeight(table.view), tg = gGpu->prepareWeight(table.view);
        const std::vector<int32_t> tokens = {0, 999, 5, 5, 123};
        std::vector<float> cpu(tokens.size() * 576), gpu(cpu.size());
        gCpu->embed(*tc, tokens, cpu);
        gGpu->embed(*tg, tokens, gpu);
        CHECK(compare(fmt::format("embed {}", dtypeName(dtype)).c_str(), gpu, cpu, 0.0));
    }
    for (int dim : {64, 576, 4096}) {
        HostWeight norm(DType::F32, dim, 1, 11, 1.0f);
        auto nc = gCpu->prepareWeight(norm.view), ng = gGpu->prepareWeight(norm.view);
        const std::vector<float> x = randomFloats(size_t(5 * dim), 12, 3.0f);
        std::vector<float> cpu(x.size()), gpu(x.size());
        gCpu->rmsNorm(x, *nc, 5, 1e-5f, cpu);
        gGpu->rmsNorm(x, *ng, 5, 1e-5f, gpu);
        CHECK(compare(fmt::format("rmsNorm dim={}", dim).c_str(), gpu, cpu, kTolFloat));
    }
    std::vector<float> a = randomFloats(100003, 1, 8.0f), b = randomFloats(100003, 2, 8.0f);
    a[7] = NAN;
    a[9] = INFINITY;
    std::vector<float> cpu(a.size()), gpu(a.size());
    gCpu->swiglu(a, b, cpu);
    gGpu->swiglu(a, b, gpu);
    CHECK(compare("swiglu (with NaN and Inf inputs)", gpu, cpu, kTolTrans));
    gCpu->add(a, b, cpu);
    gGpu->add(a, b, gpu);
    CHECK(compare("add (with NaN and Inf inputs)", gpu, cpu, 0.0));
}

// The residual add fused with the next norm equals add then rmsNorm on the CPU; and the int8 codes
// that the norm, SwiGLU and attention write for the next single-token mat-vec are exactly those the
// mat-vec's own quantization would compute: its result is bit-identical either way.
TEST_CASE(fusedNormAndProducedCodes) {
    for (int nTokens : {1, 5})
        for (int dim : {576, 4096}) {
            HostWeight norm(DType::F32, dim, 1, 21, 1.0f);
            auto nc = gCpu->prepareWeight(norm.view), ng = gGpu->prepareWeight(norm.view);
            const std::vector<float> a = randomFloats(size_t(nTokens * dim), 22, 2.0f);
            const std::vector<float> r = randomFloats(size_t(nTokens * dim), 23, 2.0f);
            std::vector<float> want(r.size()), wantSum(r.size()), got(r.size()), gotSum(r.size());
            for (auto [backend, sum, out] :
                 {std::tuple{gCpu.get(), &wantSum, &want}, std::tuple{gGpu.get(), &gotSum, &got}}) {
                auto ab = backend->makeActivations(), rb = backend->makeActivations(),
                     ob = backend->makeActivations();
                backend->upload(a, *ab);
                backend->upload(r, *rb);
                backend->addRmsNorm(*ab, *rb, backend == gCpu.get() ? *nc : *ng, nTokens, 1e-5f, *ob);
                backend->download(*rb, *sum);
                backend->download(*ob, *out);
            }
            CHECK(compare(fmt::format("addRmsNorm residual {}x{}", nTokens, dim).c_str(), gotSum, wantSum,
                          0.0));
            CHECK(compare(fmt::format("addRmsNorm norm {}x{}", nTokens, dim).c_str(), got, want, kTolFloat));
        }
    const int dim = 4096, ff = 1024;
    HostWeight norm(DType::F32, dim, 1, 31, 1.0f);
    auto ng = gGpu->prepareWeight(norm.view);
    for (DType dtype : {DType::Q4_0, DType::Q4_1, DType::Q8_0}) {
        HostWeight up(dtype, dim, ff, 32), down(dtype, ff, dim, 33);
        auto wu = gGpu->prepareWeight(up.view), wd = gGpu->prepareWeight(down.view);
        auto x = gGpu->makeActivations(), res = gGpu->makeActivations(), normed = gGpu->makeActivations();
        auto g = gGpu->makeActivations(), u = gGpu->makeActivations(), act = gGpu->makeActivations();
        auto out = gGpu->makeActivations(), copy = gGpu->makeActivations();
        gGpu->upload(randomFloats(size_t(dim), 34, 2.0f), *x);
        gGpu->upload(randomFloats(size_t(dim), 35, 2.0f), *res);
        std::vector<float> fused(static_cast<size_t>(ff)), plain(static_cast<size_t>(ff)),
            host(static_cast<size_t>(dim));
        // Norm -> mat-vec, codes from the norm; then the same normed row uploaded (codes from the mat-vec).
        gGpu->addRmsNorm(*x, *res, *ng, 1, 1e-5f, *normed);
        gGpu->matmul(*wu, *normed, 1, *out);
        gGpu->download(*out, fused);
        gGpu->download(*normed, host);
        gGpu->upload(host, *copy);
        gGpu->matmul(*wu, *copy, 1, *out);
        gGpu->download(*out, plain);
        CHECK(compare(fmt::format("norm codes = mat-vec codes ({})", dtypeName(dtype)).c_str(), fused, plain,
                      0.0));
        // SwiGLU -> mat-vec, the same way.
        gGpu->matmul(*wu, *normed, 1, *g);
        gGpu->matmul(*wu, *copy, 1, *u);
        gGpu->swiglu(*g, *u, *act);
        std::vector<float> fusedDown(static_cast<size_t>(dim)), plainDown(static_cast<size_t>(dim)),
            actHost(static_cast<size_t>(ff));
        gGpu->matmul(*wd, *act, 1, *out);
        gGpu->download(*out, fusedDown);
        gGpu->download(*act, actHost);
        gGpu->upload(actHost, *copy);
        gGpu->matmul(*wd, *copy, 1, *out);
        gGpu->download(*out, plainDown);
        CHECK(compare(fmt::format("swiglu codes = mat-vec codes ({})", dtypeName(dtype)).c_str(), fusedDown,
                      plainDown, 0.0));
    }
}

// Products of one x in one launch (q, k, v): each equals its own matmul bit for bit, and the CPU's
// result within the format's tolerance.
TEST_CASE(matmulsShareOneLaunch) {
    for (DType dtype : {DType::F16, DType::Q4_0, DType::Q4_1, DType::Q8_0}) {
        const int64_t cols = 512;
        HostWeight wq(dtype, cols, 512, 41), wk(dtype, cols, 128, 42), wv(dtype, cols, 96, 43);
        HostWeight bias(DType::F32, 128, 1, 44, 1.0f);
        auto q = gGpu->prepareWeight(wq.view), k = gGpu->prepareWeight(wk.view),
             v = gGpu->prepareWeight(wv.view);
        auto bk = gGpu->prepareWeight(bias.view);
        auto qc = gCpu->prepareWeight(wq.view), kc = gCpu->prepareWeight(wk.view),
             vc = gCpu->prepareWeight(wv.view);
        auto bkc = gCpu->prepareWeight(bias.view);
        const std::vector<float> xHost = randomFloats(size_t(cols), 45, 2.0f);
        auto x = gGpu->makeActivations(), outQ = gGpu->makeActivations(), outK = gGpu->makeActivations();
        auto outV = gGpu->makeActivations(), single = gGpu->makeActivations();
        gGpu->upload(xHost, *x);
        const MatmulProduct products[] = {
            {q.get(), nullptr, outQ.get()}, {k.get(), bk.get(), outK.get()}, {v.get(), nullptr, outV.get()}};
        gGpu->matmuls(products, *x, 1);
        const BackendWeight* cpuWeights[] = {qc.get(), kc.get(), vc.get()};
        const BackendWeight* cpuBias[] = {nullptr, bkc.get(), nullptr};
        for (int i = 0; i < 3; ++i) {
            std::vector<float> together(products[i].out->size()), alone(together.size()),
                cpu(together.size());
            gGpu->download(*products[i].out, together);
            gGpu->matmul(*products[i].weight, *x, 1, *single, products[i].bias);
            gGpu->download(*single, alone);
            gCpu->matmul(*cpuWeights[i], xHost, 1, cpu, cpuBias[i]);
            const std::string what = fmt::format("matmuls {} part {}", dtypeName(dtype), i);
            CHECK(compare((what + " = its own matmul").c_str(), together, alone, 0.0));
            CHECK(compare((what + " vs cpu").c_str(), together, cpu,
                          dtype == DType::F16 ? kTolFloat : kTolInt8));
        }
    }
}

TEST_CASE(ropeBothStylesAndFreqFactors) {
    const std::vector<float> factors = randomFloats(32, 4, 0.5f);
    std::vector<float> positive(factors.size());
    for (size_t i = 0; i < factors.size(); ++i)
        positive[i] = 1.5f + factors[i];
    for (RopeStyle style : {RopeStyle::Interleaved, RopeStyle::HalfSplit})
        for (bool scaled : {false, true}) {
            const int nTokens = 6, nHeads = 4, headDim = 64;
            const std::vector<int32_t> positions = {0, 1, 17, 511, 4095, 100000};
            RopeParams params;
            params.nDims = 64;
            params.freqBase = 500000.0f;
            params.style = style;
            if (scaled) params.freqFactors = positive;
            std::vector<float> cpu = randomFloats(size_t(nTokens * nHeads * headDim), 5), gpu = cpu;
            gCpu->rope(cpu, nTokens, nHeads, headDim, positions, params);
            gGpu->rope(gpu, nTokens, nHeads, headDim, positions, params);
            CHECK(compare(fmt::format("rope {} factors={}",
                                      style == RopeStyle::HalfSplit ? "neox" : "interleaved", scaled)
                              .c_str(),
                          gpu, cpu, kTolTrans * 10));
        }
}

// The fused rope + KV store against its three steps on the same backend: two sequences of one cache
// get the same q, k, v rows, one through rope, rope, storeKv and one through ropeAndStoreKv; the rotated
// q and k and the attention read back from the cache must be the same bits.
TEST_CASE(ropeAndStoreKvEqualsItsSteps) {
    struct Case {
        int headDim, nDims;
        RopeStyle style;
    };
    for (const Case& c : {Case{64, 64, RopeStyle::Interleaved}, Case{128, 128, RopeStyle::HalfSplit},
                          Case{128, 64, RopeStyle::HalfSplit}}) {
        const ModelConfig config = attentionConfig(2, c.headDim);
        KvCache cache(config, 256, 16);
        const AttentionShape shape{config.nHeads, config.nHeadsKv, c.headDim,
                                   1.0f / std::sqrt(float(c.headDim))};
        RopeParams params;
        params.nDims = c.nDims;
        params.freqBase = 10000.0f;
        params.style = c.style;
        uint32_t seed = 700;
        for (int n : {5, 1, 1}) { // a prefill, then two decode steps
            const int first = cache.append(1, n);
            CHECK(cache.append(2, n) == first);
            std::vector<int32_t> positions(static_cast<size_t>(n)), slots(static_cast<size_t>(n));
            for (int i = 0; i < n; ++i)
                positions[size_t(i)] = slots[size_t(i)] = first + i;
            const std::vector<int32_t> seq1(static_cast<size_t>(n), 1), seq2(static_cast<size_t>(n), 2);
            for (int layer = 0; layer < config.nLayers; ++layer) {
                const std::vector<float> q = randomFloats(size_t(n) * config.nHeads * c.headDim, ++seed);
                const std::vector<float> k = randomFloats(size_t(n) * config.nHeadsKv * c.headDim, ++seed);
                const std::vector<float> v = randomFloats(k.size(), ++seed);
                auto q1 = gGpu->makeActivations(), k1 = gGpu->makeActivations(), v1 = gGpu->makeActivations();
                auto q2 = gGpu->makeActivations(), k2 = gGpu->makeActivations(), v2 = gGpu->makeActivations();
                gGpu->upload(q, *q1), gGpu->upload(k, *k1), gGpu->upload(v, *v1);
                gGpu->upload(q, *q2), gGpu->upload(k, *k2), gGpu->upload(v, *v2);
                gGpu->rope(*q1, n, config.nHeads, c.headDim, positions, params);
                gGpu->rope(*k1, n, config.nHeadsKv, c.headDim, positions, params);
                gGpu->storeKv(*k1, *v1, seq1, slots, layer, cache);
                gGpu->ropeAndStoreKv(*q2, *k2, *v2, n, config.nHeads, config.nHeadsKv, c.headDim, positions,
                                     params, seq2, slots, layer, cache);
                std::vector<float> qa(q.size()), qb(q.size()), ka(k.size()), kb(k.size());
                gGpu->download(*q1, qa), gGpu->download(*q2, qb), gGpu->download(*k1, ka),
                    gGpu->download(*k2, kb);
                CHECK(qa == qb);
                CHECK(ka == kb);
                CHECK(qa != q); // rotated
                AttentionMask m1, m2;
                m1.clear(), m2.clear();
                for (int i = 0; i < n; ++i) {
                    m1.seqIds.push_back(1), m2.seqIds.push_back(2);
                    m1.prefix.push_back(first + i + 1), m2.prefix.push_back(first + i + 1);
                    m1.extraBegin.push_back(0), m2.extraBegin.push_back(0);
                }
                std::vector<float> out1(q.size()), out2(q.size());
                gGpu->attention(qa, shape, m1, cache, layer, out1);
                gGpu->attention(qa, shape, m2, cache, layer, out2);
                CHECK(out1 == out2);
            }
        }
        std::printf("  rope + KV store d=%d nDims=%d: fused equals its steps\n", c.headDim, c.nDims);
    }
}

// Fills identical caches through both backends, then compares attention for causal decode and
// prefill rows, a token tree, and a forked sequence whose shared last block was copied on write.
TEST_CASE(attentionPagedCausalTreeAndFork) {
    for (int headDim : {64, 128}) {
        const ModelConfig config = attentionConfig(2, headDim);
        KvCache cacheCpu(config, 2048, 16), cacheGpu(config, 2048, 16);
        AttentionShape shape{config.nHeads, config.nHeadsKv, headDim, 1.0f / std::sqrt(float(headDim))};
        const int64_t kvWidth = int64_t(config.nHeadsKv) * headDim;
        uint32_t seed = 100;
        auto store = [&](int32_t seq, int count) {
            const int first = cacheCpu.append(seq, count);
            CHECK(cacheGpu.append(seq, count) == first);
            std::vector<int32_t> seqs(static_cast<size_t>(count), seq);
            std::vector<int32_t> slots(static_cast<size_t>(count));
            for (int i = 0; i < count; ++i)
                slots[size_t(i)] = first + i;
            for (int layer = 0; layer < config.nLayers; ++layer) {
                const std::vector<float> k = randomFloats(size_t(count * kvWidth), ++seed);
                const std::vector<float> v = randomFloats(size_t(count * kvWidth), ++seed);
                gCpu->storeKv(k, v, seqs, slots, layer, cacheCpu);
                gGpu->storeKv(k, v, seqs, slots, layer, cacheGpu);
            }
            return first;
        };
        auto check = [&](const AttentionMask& mask, const std::string& what) {
            const std::vector<float> q = randomFloats(size_t(mask.size()) * config.nHeads * headDim, ++seed);
            for (int layer = 0; layer < config.nLayers; ++layer) {
                std::vector<float> cpu(q.size()), gpu(q.size());
                gCpu->attention(q, shape, mask, cacheCpu, layer, cpu);
                gGpu->attention(q, shape, mask, cacheGpu, layer, gpu);
                CHECK(compare(fmt::format("attention d={} {} layer {}", headDim, what, layer).c_str(), gpu,
                              cpu, kTolTrans * 10));
            }
        };
        auto causal = [](int32_t seq, int first, int count) {
            AttentionMask m;
            m.clear();
            for (int i = 0; i < count; ++i) {
                m.seqIds.push_back(seq);
                m.prefix.push_back(first + i + 1);
                m.extraBegin.push_back(0);
            }
            return m;
        };
        int first = store(1, 300); // prefill over 19 blocks
        check(causal(1, first, 300), "prefill 300");
        for (int step = 0; step < 3; ++step) {
            first = store(1, 1);
            check(causal(1, first, 1), "decode");
        }
        first = store(1, 900); // long context: several splits
        check(causal(1, first + 899, 1), "decode at 1203");
        // Token tree: 3 candidate rows after slot `base`, each sees the prefix plus its ancestors.
        const int base = cacheCpu.length(1);
        store(1, 3);
        AttentionMask tree;
        tree.clear();
        const std::vector<std::vector<int32_t>> extras = {{base}, {base, base + 1}, {base, base + 2}};
        for (const auto& e : extras) {
            tree.seqIds.push_back(1);
            tree.prefix.push_back(base);
            tree.extras.insert(tree.extras.end(), e.begin(), e.end());
            tree.extraBegin.push_back(int32_t(tree.extras.size()));
        }
        check(tree, "tree");
        // Fork, then append: the shared last block is copied on the host and must be re-read.
        cacheCpu.truncate(1, 1000);
        cacheGpu.truncate(1, 1000);
        cacheCpu.fork(1, 2);
        cacheGpu.fork(1, 2);
        first = store(2, 2);
        AttentionMask both = causal(2, first, 2);
        both.seqIds.push_back(1);
        both.prefix.push_back(1000);
        both.extraBegin.push_back(0);
        check(both, "fork + copy on write, two sequences");
    }
}

TEST_CASE(samplingMatchesCpuSampler) {
    const int n = 50000;
    std::vector<float> logits = randomFloats(size_t(n), 77, 6.0f);
    logits[123] = 9.5f; // a clear favourite
    float *dLogits = nullptr, *dScratch = nullptr;
    int32_t* dToken = nullptr;
    LATHE_CUDA_CHECK(cudaMalloc(&dLogits, n * sizeof(float)));
    LATHE_CUDA_CHECK(cudaMalloc(&dScratch, n * sizeof(float)));
    LATHE_CUDA_CHECK(cudaMalloc(&dToken, sizeof(int32_t)));
    LATHE_CUDA_CHECK(cudaMemcpy(dLogits, logits.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    struct Case {
        float temperature;
        int topK;
        float topP, minP;
    };
    for (const Case& c : {Case{0.0f, 0, 1.0f, 0.0f}, Case{0.8f, 40, 0.95f, 0.05f}, Case{1.0f, 0, 1.0f, 0.0f},
                          Case{1.5f, 200, 0.9f, 0.0f}, Case{0.7f, 0, 0.8f, 0.01f}})
        for (float u : {0.0f, 0.1f, 0.37f, 0.5f, 0.93f, 0.999f}) {
            SamplingParams params;
            params.temperature = c.temperature;
            params.topK = c.topK;
            params.topP = c.topP;
            params.minP = c.minP;
            const std::vector<TokenProb> cands = Sampler(params).candidates(logits, {});
            int32_t expected = cands.back().token;
            double cumulative = 0.0;
            for (const TokenProb& t : cands) {
                cumulative += t.prob;
                if (double(u) < cumulative) {
                    expected = t.token;
                    break;
                }
            }
            kernels::SamplingArgs args;
            args.logits = dLogits;
            args.n = n;
            args.temperature = c.temperature;
            args.topK = c.topK;
            args.topP = c.topP;
            args.minP = c.minP;
            args.uniform = u;
            args.scratch = dScratch;
            args.token = dToken;
            kernels::sampleToken(args, nullptr);
            LATHE_CUDA_CHECK(cudaGetLastError());
            int32_t got = -1;
            LATHE_CUDA_CHECK(cudaMemcpy(&got, dToken, sizeof got, cudaMemcpyDeviceToHost));
            // The kernel adds probabilities in float, the reference in double: deep in the tail (u near 1
            // over 50k candidates) the running sums differ by ~1e-5, so a different token whose interval
            // of the reference's cumulative distribution lies within that of u is the same draw.
            bool sameDraw = got == expected;
            if (!sameDraw) {
                double before = 0.0;
                for (const TokenProb& t : cands) {
                    if (t.token == got) {
                        sameDraw = double(u) > before - 1e-4 && double(u) < before + t.prob + 1e-4;
                        break;
                    }
                    before += t.prob;
                }
                std::printf("  sampling T=%.2f k=%d p=%.2f minp=%.2f u=%.3f: gpu %d cpu %d (%s)\n",
                            c.temperature, c.topK, c.topP, c.minP, u, got, expected,
                            sameDraw ? "same draw within float rounding" : "different draw");
            }
            CHECK(sameDraw);
        }
    cudaFree(dLogits);
    cudaFree(dScratch);
    cudaFree(dToken);
}

TEST_CASE(graphCapturedOnceThenReplayed) {
    const int n = 4096;
    std::vector<float> a = randomFloats(n, 1), b = randomFloats(n, 2);
    float *da = nullptr, *db = nullptr, *dout = nullptr;
    LATHE_CUDA_CHECK(cudaMalloc(&da, n * sizeof(float)));
    LATHE_CUDA_CHECK(cudaMalloc(&db, n * sizeof(float)));
    LATHE_CUDA_CHECK(cudaMalloc(&dout, n * sizeof(float)));
    cudaStream_t stream = nullptr;
    LATHE_CUDA_CHECK(cudaStreamCreate(&stream));
    cuda::CudaGraphRunner runner;
    const cuda::DecodeGraphKey key{1, 1, 0};
    for (int step = 0; step < 3; ++step) {
        for (float& x : a)
            x += 1.0f; // new per-step data at the same device address
        LATHE_CUDA_CHECK(cudaMemcpyAsync(da, a.data(), n * sizeof(float), cudaMemcpyHostToDevice, stream));
        LATHE_CUDA_CHECK(cudaMemcpyAsync(db, b.data(), n * sizeof(float), cudaMemcpyHostToDevice, stream));
        const bool replayed = runner.run(key, stream, [&](cudaStream_t s) {
            kernels::add(da, db, n, dout, s);
            kernels::swiglu(dout, db, n, dout, s);
        });
        CHECK(replayed == (step > 0));
        std::vector<float> gpu(n), cpu(n);
        LATHE_CUDA_CHECK(
            cudaMemcpyAsync(gpu.data(), dout, n * sizeof(float), cudaMemcpyDeviceToHost, stream));
        LATHE_CUDA_CHECK(cudaStreamSynchronize(stream));
        for (int i = 0; i < n; ++i) {
            const float s = a[size_t(i)] + b[size_t(i)];
            cpu[size_t(i)] = s / (1.0f + std::exp(-s)) * b[size_t(i)];
        }
        CHECK(compare("graph replay: add then swiglu", gpu, cpu, kTolTrans));
    }
    CHECK(runner.cache().misses() == 1 && runner.cache().hits() == 2);
    cudaStreamDestroy(stream);
    cudaFree(da);
    cudaFree(db);
    cudaFree(dout);
}

int main() {
    const std::optional<cuda::CudaDeviceInfo> device = gputest::usableDevice();
    if (!device) return gputest::kSkipped;
    gCpu = makeCpuBackend(CpuBackendOptions{2, false});
    gGpu = makeCudaBackend(device->ordinal);
    const int rc = gputest::runAll();
    gGpu.reset();
    return rc;
}
