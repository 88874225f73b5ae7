#include "TestSupport.h"
#include "backend/cpu/ActivationQuant.h"
#include "backend/cpu/CpuBackend.h"
#include "backend/cpu/GgmlFloatOrder.h"
#include "core/Error.h"
#include "core/Half.h"
#include "io/Quants.h"
#include "model/KvCache.h"
#include "model/RopeFreqFactors.h"

#include <QtTest>
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>

using namespace lathe;

Q_DECLARE_METATYPE(lathe::DType)
Q_DECLARE_METATYPE(lathe::RopeStyle)

namespace {

// A stored tensor of rows x cols made with io's reference quantizer; owns its bytes.
struct StoredTensor {
    std::vector<uint8_t> bytes;
    TensorView view;
    StoredTensor(DType type, int64_t cols, int64_t rows, const std::vector<float>& values) {
        const uint64_t stride = rowBytes(type, uint64_t(cols));
        bytes.resize(size_t(stride * uint64_t(rows)));
        for (int64_t r = 0; r < rows; ++r)
            quantizeRow(type, values.data() + r * cols, bytes.data() + r * stride, cols);
        view.name = "test";
        view.dtype = type;
        view.nDims = rows == 1 ? 1 : 2;
        view.shape = {cols, rows, 1, 1};
        view.data = bytes.data();
        view.nbytes = bytes.size();
    }
    std::vector<double> row(int64_t r) const {
        std::vector<float> f(size_t(view.rowLength()));
        dequantizeRow(view.dtype, view.row(r), f.data(), view.rowLength());
        return {f.begin(), f.end()};
    }
};

// Attention of nRows rows in one batch against the same rows two at a time (maskOf(first, count): those
// rows' mask), in the default (ggml-exact) mode, whose prefill path this is: the first output that
// differs in any bit, or an empty string.
std::string pairsMismatchWholeBatch(const KvCache& cache, const AttentionShape& shape,
                                    const std::vector<float>& q, int nRows,
                                    const std::function<AttentionMask(int, int)>& maskOf) {
    auto backend = makeCpuBackend(CpuBackendOptions{2, true});
    std::vector<float> whole(q.size());
    backend->attention(q, shape, maskOf(0, nRows), cache, 0, whole);
    const int64_t rowFloats = int64_t(shape.nHeads) * shape.headDim;
    for (int first = 0; first < nRows; first += 2) {
        const std::span<const float> rows(q.data() + first * rowFloats, size_t(2 * rowFloats));
        std::vector<float> pair(rows.size());
        backend->attention(rows, shape, maskOf(first, 2), cache, 0, pair);
        for (int64_t i = 0; i < 2 * rowFloats; ++i)
            if (std::memcmp(&pair[size_t(i)], &whole[size_t(first * rowFloats + i)], sizeof(float)) != 0)
                return QString("row %1, value %2")
                    .arg(first + i / rowFloats)
                    .arg(i % rowFloats)
                    .toStdString();
    }
    return {};
}

std::unique_ptr<Backend> referenceBackend(int threads = 2) {
    return makeCpuBackend(CpuBackendOptions{threads, false});
}

ModelConfig cacheConfig(int nHeadsKv, int headDim) {
    ModelConfig c;
    c.nLayers = 1;
    c.nHeadsKv = nHeadsKv;
    c.headDim = headDim;
    return c;
}

} // namespace

class TestCpuBackend : public QObject {
    Q_OBJECT
private slots:
    void ropeAtPositionZeroIsIdentity() {
        auto backend = referenceBackend();
        for (RopeStyle style : {RopeStyle::Interleaved, RopeStyle::HalfSplit}) {
            std::vector<float> x = test::normalValues(2 * 3 * 16, 1);
            const std::vector<float> original = x;
            const std::vector<int32_t> positions = {0, 0};
            backend->rope(x, 2, 3, 16, positions, RopeParams{16, 10000.0f, style, {}});
            QCOMPARE(x, original);
        }
    }

    void ropeRotatesPairByKnownAngle_data() {
        QTest::addColumn<RopeStyle>("style");
        QTest::addColumn<int>("pair");
        QTest::addColumn<int>("position");
        QTest::addColumn<bool>("llama3");
        for (RopeStyle style : {RopeStyle::Interleaved, RopeStyle::HalfSplit})
            for (int pair : {0, 1, 5, 11})
                for (int position : {1, 7, 300})
                    for (bool llama3 : {false, true})
                        QTest::addRow("%s pair %d pos %d%s",
                                      style == RopeStyle::Interleaved ? "interleaved" : "half", pair,
                                      position, llama3 ? " llama3" : "")
                            << style << pair << position << llama3;
    }
    void ropeRotatesPairByKnownAngle() {
        QFETCH(RopeStyle, style);
        QFETCH(int, pair);
        QFETCH(int, position);
        QFETCH(bool, llama3);
        const int headDim = 32, nDims = 24; // the last 8 dimensions are not rotated
        const float base = 500000.0f;
        const RopeLlama3Scaling scaling{8.0f, 1.0f, 4.0f, 64};
        const std::vector<float> factors =
            llama3 ? ropeLlama3FreqFactors(scaling, nDims, base) : std::vector<float>{};
        // Independent factor: transformers' formula written out for this pair.
        double factor = 1.0;
        const double freq = std::pow(double(base), -2.0 * pair / nDims);
        if (llama3) {
            const double wavelen = 2 * M_PI / freq;
            if (wavelen > 64.0)
                factor = 8.0;
            else if (wavelen >= 16.0) {
                const double smooth = (64.0 / wavelen - 1.0) / 3.0;
                factor = freq / ((1 - smooth) * freq / 8.0 + smooth * freq);
            }
        }
        const double theta = position * freq / factor;
        const int a = style == RopeStyle::Interleaved ? 2 * pair : pair;
        const int b = style == RopeStyle::Interleaved ? 2 * pair + 1 : pair + nDims / 2;

        auto backend = referenceBackend();
        std::vector<float> x(size_t(headDim), 0.0f);
        x[size_t(a)] = 1.0f;
        x[size_t(nDims + 3)] = 2.5f;
        const std::vector<int32_t> positions = {position};
        backend->rope(x, 1, 1, headDim, positions, RopeParams{nDims, base, style, factors});
        QVERIFY(std::fabs(x[size_t(a)] - std::cos(theta)) < 2e-4);
        QVERIFY(std::fabs(x[size_t(b)] - std::sin(theta)) < 2e-4);
        QCOMPARE(x[size_t(nDims + 3)], 2.5f);
        for (int i = 0; i < headDim; ++i)
            if (i != a && i != b && i != nDims + 3) QCOMPARE(x[size_t(i)], 0.0f);
    }

    // ggml's rms_norm bit for bit: the squares rounded to float, summed in double one after another,
    // the mean and scale in float. Rows in groups of four and a rest, on both threads.
    void rmsNormIsGgmlsOrderBitForBit() {
        auto backend = makeCpuBackend(CpuBackendOptions{2, true});
        const int dim = 576, n = 11;
        const std::vector<float> x = test::normalValues(size_t(n * dim), 7, 3.0f);
        const StoredTensor w(DType::F32, dim, 1, test::normalValues(dim, 8));
        auto weight = backend->prepareWeight(w.view);
        std::vector<float> out(x.size());
        const float eps = 1e-5f;
        backend->rmsNorm(x, *weight, n, eps, out);
        for (int t = 0; t < n; ++t) {
            double sum = 0.0;
            for (int i = 0; i < dim; ++i) {
                const float square = x[size_t(t * dim + i)] * x[size_t(t * dim + i)];
                sum += double(square);
            }
            const float mean = float(sum / double(dim));
            const float scale = 1.0f / std::sqrt(mean + eps);
            for (int i = 0; i < dim; ++i) {
                const float scaled = x[size_t(t * dim + i)] * scale;
                const float expected = scaled * float(w.row(0)[size_t(i)]);
                QVERIFY(std::bit_cast<uint32_t>(out[size_t(t * dim + i)]) ==
                        std::bit_cast<uint32_t>(expected));
            }
        }
    }

    void rmsNormMatchesNaive() {
        auto backend = referenceBackend();
        const int dim = 48, n = 3;
        const std::vector<float> x = test::normalValues(size_t(n * dim), 2, 3.0f);
        const StoredTensor w(DType::F32, dim, 1, test::normalValues(dim, 3));
        auto weight = backend->prepareWeight(w.view);
        std::vector<float> out(x.size());
        backend->rmsNorm(x, *weight, n, 1e-5f, out);
        const std::vector<double> wr = w.row(0);
        for (int t = 0; t < n; ++t) {
            double ss = 0;
            for (int i = 0; i < dim; ++i)
                ss += double(x[size_t(t * dim + i)]) * x[size_t(t * dim + i)];
            const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
            for (int i = 0; i < dim; ++i)
                QVERIFY(std::fabs(out[size_t(t * dim + i)] - x[size_t(t * dim + i)] * inv * wr[size_t(i)]) <
                        1e-5);
        }
    }

    // Products of one x (q, k, v with a bias): integer-dot formats, float formats (F16's fp16 copy of x
    // made once) and a mix of both, which runs them one by one. The same bits as a matmul each, in both
    // modes, for a decode row, a small batch and more tokens than one prefill token block.
    void matmulsEqualSeparateMatmuls_data() {
        QTest::addColumn<DType>("qType");
        QTest::addColumn<DType>("kType");
        QTest::addColumn<DType>("vType");
        QTest::addRow("integer") << DType::Q8_0 << DType::Q4_1 << DType::Q4_0;
        QTest::addRow("f16") << DType::F16 << DType::F16 << DType::F16;
        QTest::addRow("float mix") << DType::F16 << DType::BF16 << DType::F32;
        QTest::addRow("integer and float") << DType::Q8_0 << DType::F16 << DType::Q4_0;
    }
    void matmulsEqualSeparateMatmuls() {
        QFETCH(DType, qType);
        QFETCH(DType, kType);
        QFETCH(DType, vType);
        const int64_t cols = 96;
        const StoredTensor wq(qType, cols, 40, test::normalValues(size_t(cols * 40), 21, 0.5f));
        const StoredTensor wk(kType, cols, 24, test::normalValues(size_t(cols * 24), 22, 0.5f));
        const StoredTensor wv(vType, cols, 24, test::normalValues(size_t(cols * 24), 23, 0.5f));
        const StoredTensor bk(DType::F32, 24, 1, test::normalValues(24, 24));
        for (bool quantized : {false, true})
            for (int nTokens : {1, 5, 70}) {
                auto backend = makeCpuBackend(CpuBackendOptions{2, quantized});
                auto q = backend->prepareWeight(wq.view), k = backend->prepareWeight(wk.view);
                auto v = backend->prepareWeight(wv.view), bias = backend->prepareWeight(bk.view);
                auto x = backend->makeActivations();
                backend->upload(test::normalValues(size_t(nTokens * cols), 25, 2.0f), *x);
                auto outQ = backend->makeActivations(), outK = backend->makeActivations();
                auto outV = backend->makeActivations(), alone = backend->makeActivations();
                const MatmulProduct products[] = {{q.get(), nullptr, outQ.get()},
                                                  {k.get(), bias.get(), outK.get()},
                                                  {v.get(), nullptr, outV.get()}};
                backend->matmuls(products, *x, nTokens);
                for (const MatmulProduct& p : products) {
                    backend->matmul(*p.weight, *x, nTokens, *alone, p.bias);
                    std::vector<float> together(p.out->size()), separate(alone->size());
                    backend->download(*p.out, together);
                    backend->download(*alone, separate);
                    QCOMPARE(together.size(), separate.size());
                    QVERIFY2(
                        std::memcmp(together.data(), separate.data(), together.size() * sizeof(float)) == 0,
                        qPrintable(QStringLiteral("%1 tokens, quantized %2").arg(nTokens).arg(quantized)));
                }
            }
    }

    // Prefill of the integer-dot formats against each output's scalar dot, bit for bit: 37 rows (not
    // whole tiles of 4 or 16), token counts below, inside and across the prefill token blocks (17, 70,
    // 300), each format alone and beside a Q4_1 product (which keeps the 64-token blocks). Registered
    // twice: as is (the AVX-512 integer tiles where the processor has them) and as TestCpuBackendAvx2
    // under LATHE_CPU_KERNELS=avx2, which runs the AVX2 int16 tile and the 8-bit tile for short blocks.
    void quantizedPrefillMatchesScalarDots() {
        const int64_t cols = 96, rows = 37, blocks = cols / kActivationBlock;
        const StoredTensor beside(DType::Q4_1, cols, 24, test::normalValues(size_t(cols * 24), 33, 0.5f));
        for (int nTokens : {17, 70, 300}) {
            const std::vector<float> x = test::normalValues(size_t(nTokens * cols), 31, 2.0f);
            std::vector<ActivationBlock> xq(size_t(nTokens * blocks));
            for (int t = 0; t < nTokens; ++t)
                quantizeActivationsScalar(x.data() + t * cols, cols, xq.data() + t * blocks);
            for (DType type : {DType::Q4_0, DType::Q5_0, DType::Q8_0, DType::Q4_1})
                for (bool mixed : {false, true}) {
                    const StoredTensor w(type, cols, rows, test::normalValues(size_t(cols * rows), 32, 0.5f));
                    auto backend = makeCpuBackend(CpuBackendOptions{2, true});
                    auto weight = backend->prepareWeight(w.view), other = backend->prepareWeight(beside.view);
                    auto input = backend->makeActivations(), out = backend->makeActivations();
                    auto otherOut = backend->makeActivations();
                    backend->upload(x, *input);
                    const MatmulProduct products[] = {{weight.get(), nullptr, out.get()},
                                                      {other.get(), nullptr, otherOut.get()}};
                    backend->matmuls(std::span<const MatmulProduct>(products, mixed ? 2 : 1), *input,
                                     nTokens);
                    std::vector<float> got(out->size());
                    backend->download(*out, got);
                    QCOMPARE(got.size(), size_t(nTokens * rows));
                    for (int t = 0; t < nTokens; ++t)
                        for (int64_t r = 0; r < rows; ++r) {
                            const float want =
                                quantizedDotScalar(type, w.view.row(r), xq.data() + t * blocks, blocks);
                            QVERIFY2(std::bit_cast<uint32_t>(got[size_t(t * rows + r)]) ==
                                         std::bit_cast<uint32_t>(want),
                                     qPrintable(QStringLiteral("%1, %2 tokens, mixed %3: row %4 token %5")
                                                    .arg(QString::fromStdString(std::string(dtypeName(type))))
                                                    .arg(nTokens)
                                                    .arg(mixed)
                                                    .arg(r)
                                                    .arg(t)));
                        }
                }
        }
    }

    // Long prefills run in passes of token blocks (as many as 1 MiB of activations holds), the last pass
    // shorter than the others: every output must equal that of the same tokens run in batches of 20 (one
    // token block, one pass), bit for bit. Row lengths of 2048 and 4096 make passes of 1 to 3 blocks for
    // each kernel family (F16 tiles, integer tiles, K-quant dots and panels).
    void prefillPassesMatchShortBatches() {
        std::mt19937 rng(41);
        const int64_t rows = 37;
        const int nTokens = 300, batch = 20;
        for (DType type : {DType::F16, DType::Q8_0, DType::Q4_1, DType::Q4_K})
            for (int64_t cols : {2048, 4096}) {
                std::vector<uint8_t> bytes;
                TensorView view;
                if (type == DType::Q4_K) { // random blocks with sane fp16 scales (d, dmin)
                    bytes.resize(size_t(rowBytes(type, uint64_t(cols)) * uint64_t(rows)));
                    for (uint8_t& b : bytes)
                        b = uint8_t(rng());
                    for (size_t block = 0; block < bytes.size(); block += 144) {
                        const uint16_t d = floatToFp16(0.01f), dmin = floatToFp16(0.004f);
                        std::memcpy(bytes.data() + block, &d, 2);
                        std::memcpy(bytes.data() + block + 2, &dmin, 2);
                    }
                    view.name = "test";
                    view.dtype = type;
                    view.nDims = 2;
                    view.shape = {cols, rows, 1, 1};
                    view.data = bytes.data();
                    view.nbytes = bytes.size();
                }
                const StoredTensor stored(type == DType::Q4_K ? DType::F32 : type, cols, rows,
                                          test::normalValues(size_t(cols * rows), 42, 0.5f));
                const TensorView& w = type == DType::Q4_K ? view : stored.view;
                const std::vector<float> x = test::normalValues(size_t(nTokens * cols), 43, 2.0f);
                auto backend = makeCpuBackend(CpuBackendOptions{2, true});
                auto weight = backend->prepareWeight(w);
                std::vector<float> whole(size_t(nTokens * rows)), batched(whole.size());
                backend->matmul(*weight, x, nTokens, whole);
                for (int t0 = 0; t0 < nTokens; t0 += batch)
                    backend->matmul(
                        *weight, std::span<const float>(x).subspan(size_t(t0 * cols), size_t(batch * cols)),
                        batch, std::span<float>(batched).subspan(size_t(t0 * rows), size_t(batch * rows)));
                QVERIFY2(std::memcmp(whole.data(), batched.data(), whole.size() * sizeof(float)) == 0,
                         qPrintable(QStringLiteral("%1, %2 columns").arg(dtypeName(type).data()).arg(cols)));
            }
    }

    void matmulMatchesNaive_data() {
        QTest::addColumn<DType>("type");
        QTest::addColumn<int>("nTokens");
        for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1,
                           DType::Q5_0, DType::Q5_1})
            for (int n : {1, 5})
                QTest::addRow("%s x %d", dtypeName(type).data(), n) << type << n;
    }
    // Both modes against a double product of the dequantized weights: the float reference tightly, the
    // 8-bit-activation mode within the bound its rounding allows (half a step of each block's scale).
    void matmulMatchesNaive() {
        QFETCH(DType, type);
        QFETCH(int, nTokens);
        const int64_t cols = 96, rows = 37;
        const StoredTensor w(type, cols, rows, test::normalValues(size_t(cols * rows), 4, 0.5f));
        const StoredTensor bias(DType::F32, rows, 1, test::normalValues(size_t(rows), 5));
        const std::vector<float> x = test::normalValues(size_t(nTokens * cols), 6, 2.0f);
        for (bool quantized : {false, true}) {
            auto backend = makeCpuBackend(CpuBackendOptions{3, quantized});
            auto weight = backend->prepareWeight(w.view);
            auto biasWeight = backend->prepareWeight(bias.view);
            std::vector<float> out(size_t(nTokens * rows));
            backend->matmul(*weight, x, nTokens, out, biasWeight.get());
            for (int64_t r = 0; r < rows; ++r) {
                const std::vector<double> wr = w.row(r);
                for (int t = 0; t < nTokens; ++t) {
                    // bound: rounding to 8 bits; fp16 scales add ~2^-11 of max|w| * sum|x| per block.
                    double expected = bias.row(0)[size_t(r)], magnitude = 0, bound = 0;
                    for (int64_t b = 0; b < cols / 32; ++b) {
                        double amax = 0, wAbs = 0, wMax = 0, xAbs = 0;
                        for (int64_t c = b * 32; c < b * 32 + 32; ++c) {
                            const double xv = x[size_t(t * cols + c)];
                            expected += wr[size_t(c)] * xv;
                            magnitude += std::fabs(wr[size_t(c)] * xv);
                            amax = std::max(amax, std::fabs(xv));
                            wAbs += std::fabs(wr[size_t(c)]);
                            wMax = std::max(wMax, std::fabs(wr[size_t(c)]));
                            xAbs += std::fabs(xv);
                        }
                        bound += amax / 127.0 / 2.0 * wAbs + 1e-3 * wMax * xAbs;
                    }
                    const double got = out[size_t(t * rows + r)];
                    // F16 weights in the 8-bit mode multiply fp16-rounded activations, as ggml does:
                    // each x within half an fp16 step, 2^-11 of its magnitude.
                    const bool blockFormat = type != DType::F32 && type != DType::F16 && type != DType::BF16;
                    const double tolerance = quantized && blockFormat ? bound * 1.01 + 1e-5 * magnitude
                                             : quantized && type == DType::F16
                                                 ? (std::ldexp(1.0, -11) + 1e-5) * magnitude + 1e-6
                                                 : 1e-5 * magnitude + 1e-6;
                    QVERIFY2(
                        std::fabs(got - expected) <= tolerance,
                        qPrintable(QStringLiteral("row %1 token %2 quantized %3: %4 vs %5 (tolerance %6)")
                                       .arg(r)
                                       .arg(t)
                                       .arg(quantized)
                                       .arg(got)
                                       .arg(expected)
                                       .arg(tolerance)));
                }
            }
        }
    }

    // Lathe's own 3-bit format: no integer dot, so both modes take the float path (rows decoded, by the
    // AVX2 decoder where there is one). Against a double product of io's reference dequantization, over
    // decode, a small batch and more tokens than one prefill token block.
    void lq3MatmulMatchesDoubleReference() {
        const int64_t cols = 384, rows = 37;
        const StoredTensor w(DType::LQ3_64, cols, rows, test::normalValues(size_t(cols * rows), 21, 0.5f));
        std::vector<float> decodeOut; // nTokens = 1: decoded in registers, the same bits as token 0 below
        for (int nTokens : {1, 5, 70}) {
            const std::vector<float> x =
                test::normalValues(size_t(nTokens * cols), 22, 2.0f); // same first row
            for (bool quantized : {false, true}) {
                auto backend = makeCpuBackend(CpuBackendOptions{3, quantized});
                auto weight = backend->prepareWeight(w.view);
                std::vector<float> out(size_t(nTokens * rows));
                backend->matmul(*weight, x, nTokens, out);
                if (nTokens == 1) decodeOut = out;
                QCOMPARE(std::vector<float>(out.begin(), out.begin() + rows), decodeOut);
                for (int64_t r = 0; r < rows; ++r) {
                    const std::vector<double> wr = w.row(r);
                    for (int t = 0; t < nTokens; ++t) {
                        double expected = 0, magnitude = 0;
                        for (int64_t c = 0; c < cols; ++c) {
                            expected += wr[size_t(c)] * x[size_t(t * cols + c)];
                            magnitude += std::fabs(wr[size_t(c)] * x[size_t(t * cols + c)]);
                        }
                        const double got = out[size_t(t * rows + r)];
                        QVERIFY2(std::fabs(got - expected) <= 1e-5 * magnitude + 1e-6,
                                 qPrintable(QStringLiteral("row %1 token %2 of %3: %4 vs %5")
                                                .arg(r)
                                                .arg(t)
                                                .arg(nTokens)
                                                .arg(got)
                                                .arg(expected)));
                    }
                }
            }
        }
    }

    void perTokenInt8MatmulIsExactW8A8_data() {
        QTest::addColumn<DType>("type");
        QTest::addColumn<int>("nTokens");
        for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_1})
            for (int n : {1, 6})
                QTest::addRow("%s x %d", dtypeName(type).data(), n) << type << n;
    }
    // Per-token int8 activations: the backend's result equals the integer arithmetic of W8A8 written out
    // here from the weight bytes (one scale s = max|x| / 127 per token, codes rint(x / s) in +-127):
    // sum over blocks of d_w * s * sum(q_w * q_x) (+ m_w * s * sum(q_x) for Q4_1), in double. Q8_0
    // weights carry one scale per row in every block (per-channel int8). Activation blocks of very
    // different magnitudes make the per-block (ggml) result differ, which shows the mode took effect.
    void perTokenInt8MatmulIsExactW8A8() {
        QFETCH(DType, type);
        QFETCH(int, nTokens);
        const int64_t cols = 256, rows = 19, blocks = cols / 32;
        std::mt19937 rng(31);
        std::vector<float> values = test::normalValues(size_t(cols * rows), 32, 0.3f);
        StoredTensor w(type, cols, rows, values);
        if (type == DType::Q8_0) { // per-channel: row r's blocks all hold scale d_r
            std::uniform_int_distribution<int> code(-127, 127);
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t b = 0; b < blocks; ++b) {
                    uint8_t* block = w.bytes.data() + r * blocks * 34 + b * 34;
                    const uint16_t d = floatToFp16(0.01f + 0.003f * float(r));
                    std::memcpy(block, &d, 2);
                    for (int j = 0; j < 32; ++j)
                        block[2 + j] = uint8_t(int8_t(code(rng)));
                }
        }
        std::vector<float> x = test::normalValues(size_t(nTokens * cols), 33, 1.0f);
        for (int t = 0; t < nTokens; ++t)
            for (int64_t c = 0; c < cols; ++c)
                x[size_t(t * cols + c)] *= float(1 << (3 * ((c / 32 + t) % 4))); // blocks at 1, 8, 64, 512

        // The reference, from the bytes.
        auto halfAt = [](const uint8_t* p) {
            uint16_t h;
            std::memcpy(&h, p, 2);
            return double(fp16ToFloat(h));
        };
        std::vector<double> expected(size_t(nTokens * rows)), magnitude(expected.size());
        for (int t = 0; t < nTokens; ++t) {
            const float* xt = x.data() + t * cols;
            float amax = 0.0f;
            for (int64_t c = 0; c < cols; ++c)
                amax = std::max(amax, std::fabs(xt[c]));
            const float scale = amax / 127.0f, inverse = 127.0f / amax;
            std::vector<int> qx(static_cast<size_t>(cols));
            for (int64_t c = 0; c < cols; ++c)
                qx[size_t(c)] = int(std::clamp(std::nearbyint(xt[c] * inverse), -127.0f, 127.0f));
            for (int64_t r = 0; r < rows; ++r) {
                double sum = 0, mag = 0;
                for (int64_t b = 0; b < blocks; ++b) {
                    const uint8_t* block = w.view.row(r) + b * rowBytes(type, 32);
                    int64_t dot = 0, xSum = 0, absDot = 0, absXSum = 0; // abs: the float rounding's scale
                    for (int j = 0; j < 32; ++j) {
                        int q = 0;
                        if (type == DType::Q8_0) q = int8_t(block[2 + j]);
                        const uint8_t* nibbles = block + (type == DType::Q4_1 ? 4 : 2);
                        if (type != DType::Q8_0) q = j < 16 ? nibbles[j] & 0x0f : nibbles[j - 16] >> 4;
                        if (type == DType::Q4_0) q -= 8;
                        dot += int64_t(q) * qx[size_t(b * 32 + j)];
                        xSum += qx[size_t(b * 32 + j)];
                        absDot += std::abs(int64_t(q) * qx[size_t(b * 32 + j)]);
                        absXSum += std::abs(qx[size_t(b * 32 + j)]);
                    }
                    const double dw = halfAt(block), mw = type == DType::Q4_1 ? halfAt(block + 2) : 0.0;
                    sum += dw * double(scale) * double(dot) + mw * double(scale) * double(xSum);
                    mag += std::fabs(dw * double(scale)) * double(absDot) +
                           std::fabs(mw * double(scale)) * double(absXSum);
                }
                expected[size_t(t * rows + r)] = sum;
                magnitude[size_t(t * rows + r)] = mag;
            }
        }

        for (int threads : {1, 3}) {
            auto backend = makeCpuBackend(CpuBackendOptions{threads, true});
            auto weight = backend->prepareWeight(w.view);
            std::vector<float> perBlock(expected.size()), perToken(expected.size());
            backend->matmul(*weight, x, nTokens, perBlock);
            backend->setActivationQuantization(ActivationQuantization::PerTokenInt8);
            QVERIFY(QString::fromStdString(backend->name()).contains("per-token"));
            backend->matmul(*weight, x, nTokens, perToken);
            double perBlockDeviation = 0;
            for (size_t i = 0; i < expected.size(); ++i) {
                QVERIFY2(std::fabs(double(perToken[i]) - expected[i]) <= 2e-6 * magnitude[i] + 1e-12,
                         qPrintable(QStringLiteral("output %1: %2 vs %3 (magnitude %4)")
                                        .arg(i)
                                        .arg(double(perToken[i]), 0, 'g', 9)
                                        .arg(expected[i], 0, 'g', 9)
                                        .arg(magnitude[i])));
                perBlockDeviation =
                    std::max(perBlockDeviation, std::fabs(double(perBlock[i]) - expected[i]) / magnitude[i]);
            }
            QVERIFY2(perBlockDeviation > 1e-4, qPrintable(QString::number(perBlockDeviation)));
            backend->setActivationQuantization(ActivationQuantization::PerBlock);
            std::vector<float> again(expected.size());
            backend->matmul(*weight, x, nTokens, again);
            QCOMPARE(again, perBlock);
        }
        // The float reference keeps float activations in either mode.
        auto reference = referenceBackend();
        auto weight = reference->prepareWeight(w.view);
        std::vector<float> plain(expected.size()), withMode(expected.size());
        reference->matmul(*weight, x, nTokens, plain);
        reference->setActivationQuantization(ActivationQuantization::PerTokenInt8);
        reference->matmul(*weight, x, nTokens, withMode);
        QCOMPARE(withMode, plain);
    }

    void embedGathersDequantizedRows() {
        auto backend = referenceBackend();
        const StoredTensor table(DType::Q8_0, 64, 10, test::normalValues(640, 7));
        auto weight = backend->prepareWeight(table.view);
        const std::vector<int32_t> tokens = {3, 9, 3, 0};
        std::vector<float> out(4 * 64);
        backend->embed(*weight, tokens, out);
        for (size_t t = 0; t < tokens.size(); ++t) {
            const std::vector<double> row = table.row(tokens[t]);
            for (int i = 0; i < 64; ++i)
                QCOMPARE(double(out[t * 64 + size_t(i)]), row[size_t(i)]);
        }
        const std::vector<int32_t> bad = {10};
        std::vector<float> one(64);
        QVERIFY_THROWS_EXCEPTION(Error, backend->embed(*weight, bad, one));
    }

    // A prefill batch of 40 causal rows (P.V on transposed values) gives each row the bits it gets in
    // batches of two rows (P.V straight from the cache), with GQA and a cache of several blocks.
    void prefillAttentionRowsMatchSmallBatches() {
        const int nHeads = 6, nHeadsKv = 2, headDim = 16, nRows = 40, cached = 13;
        KvCache cache(cacheConfig(nHeadsKv, headDim), 128, 8);
        cache.append(3, cached + nRows);
        const std::vector<float> k =
            test::normalValues(size_t((cached + nRows) * nHeadsKv * headDim), 21, 1.5f);
        const std::vector<float> v = test::normalValues(size_t((cached + nRows) * nHeadsKv * headDim), 22);
        for (int s = 0; s < cached + nRows; ++s)
            for (int h = 0; h < nHeadsKv; ++h) {
                std::copy_n(&k[size_t((s * nHeadsKv + h) * headDim)], headDim, cache.key(0, 3, s, h));
                std::copy_n(&v[size_t((s * nHeadsKv + h) * headDim)], headDim, cache.value(0, 3, s, h));
            }
        const std::vector<float> q = test::normalValues(size_t(nRows * nHeads * headDim), 23);
        const AttentionShape shape{nHeads, nHeadsKv, headDim, 0.25f};
        auto maskOf = [](int first, int count) {
            AttentionMask m;
            m.clear();
            for (int i = 0; i < count; ++i) {
                m.seqIds.push_back(3);
                m.prefix.push_back(cached + first + i + 1);
                m.extraBegin.push_back(0);
            }
            return m;
        };
        const std::string mismatch = pairsMismatchWholeBatch(cache, shape, q, nRows, maskOf);
        QVERIFY2(mismatch.empty(), mismatch.c_str());
    }

    // One row (decode) in the default mode against llama.cpp's order written out with the scalar ggml
    // functions: q.k by ggml_vec_dot_f32, exp by ggml's polynomial summed per eight cells into a double,
    // P.V by ggml_vec_dot_f32 over the cells (accumulator (cell / 8) % 4, lane cell % 8). Bit for bit.
    // A prefill batch of two sequences (17 rows of one after 5 cached cells, then 19 of another), with
    // SmolLM2's head shape (64 floats, three query heads per KV head): on AVX-512 the long batch takes the
    // transposed keys, the paired values and two rows per task, and one pair of rows straddles the two
    // sequences. Every row must equal the same rows run two at a time (the batched path on keys and
    // values read from the cache), bit for bit.
    void prefillAttentionOfTwoSequencesMatchesPairs() {
        const int nHeads = 9, nHeadsKv = 3, headDim = 64;
        const int seqA = 3, seqB = 7, cachedA = 5, rowsA = 17, rowsB = 19, nRows = rowsA + rowsB;
        KvCache cache(cacheConfig(nHeadsKv, headDim), 128, 8);
        cache.append(seqA, cachedA + rowsA);
        cache.append(seqB, rowsB);
        int fill = 0;
        for (auto [seq, cells] : {std::pair{seqA, cachedA + rowsA}, std::pair{seqB, rowsB}})
            for (int s = 0; s < cells; ++s)
                for (int h = 0; h < nHeadsKv; ++h) {
                    const std::vector<float> k = test::normalValues(size_t(headDim), 100 + fill, 1.5f);
                    const std::vector<float> v = test::normalValues(size_t(headDim), 200 + fill++);
                    std::copy(k.begin(), k.end(), cache.key(0, seq, s, h));
                    std::copy(v.begin(), v.end(), cache.value(0, seq, s, h));
                }
        const std::vector<float> q = test::normalValues(size_t(nRows * nHeads * headDim), 24);
        const AttentionShape shape{nHeads, nHeadsKv, headDim, 0.125f};
        auto maskOf = [&](int first, int count) {
            AttentionMask m;
            m.clear();
            for (int row = first; row < first + count; ++row) {
                m.seqIds.push_back(row < rowsA ? seqA : seqB);
                m.prefix.push_back(row < rowsA ? cachedA + row + 1 : row - rowsA + 1);
                m.extraBegin.push_back(0);
            }
            return m;
        };
        const std::string mismatch = pairsMismatchWholeBatch(cache, shape, q, nRows, maskOf);
        QVERIFY2(mismatch.empty(), mismatch.c_str());
    }

    void decodeAttentionFollowsGgmlOrder() {
        for (int headDim : {16, 64})
            for (int cells : {1, 9, 40, 75}) {
                const int nHeads = 6, nHeadsKv = 2, group = nHeads / nHeadsKv;
                KvCache cache(cacheConfig(nHeadsKv, headDim), 128, 16);
                cache.append(1, cells);
                const std::vector<float> k =
                    test::normalValues(size_t(cells * nHeadsKv * headDim), uint32_t(31 + cells), 1.5f);
                const std::vector<float> v =
                    test::normalValues(size_t(cells * nHeadsKv * headDim), uint32_t(32 + cells));
                auto kAt = [&](int s, int h) { return &k[size_t((s * nHeadsKv + h) * headDim)]; };
                auto vAt = [&](int s, int h) { return &v[size_t((s * nHeadsKv + h) * headDim)]; };
                for (int s = 0; s < cells; ++s)
                    for (int h = 0; h < nHeadsKv; ++h) {
                        std::copy_n(kAt(s, h), headDim, cache.key(0, 1, s, h));
                        std::copy_n(vAt(s, h), headDim, cache.value(0, 1, s, h));
                    }
                const std::vector<float> q = test::normalValues(size_t(nHeads * headDim), 33);
                const float scale = 1.0f / std::sqrt(float(headDim));
                AttentionMask mask;
                mask.clear();
                mask.seqIds = {1};
                mask.prefix = {cells};
                mask.extraBegin = {0, 0};
                auto backend = makeCpuBackend(CpuBackendOptions{2, true});
                std::vector<float> out(q.size());
                backend->attention(q, AttentionShape{nHeads, nHeadsKv, headDim, scale}, mask, cache, 0, out);
                for (int h = 0; h < nHeads; ++h) {
                    const float* qh = &q[size_t(h * headDim)];
                    std::vector<float> e(static_cast<size_t>(cells));
                    float maxScore = -INFINITY;
                    for (int i = 0; i < cells; ++i) {
                        e[size_t(i)] = ggml::dotF32(qh, kAt(i, h / group), headDim) * scale;
                        maxScore = std::max(maxScore, e[size_t(i)]);
                    }
                    double sum = 0.0;
                    for (int i0 = 0; i0 < cells; i0 += 8) {
                        float lanes[8] = {};
                        for (int i = i0; i < std::min(cells, i0 + 8); ++i)
                            lanes[i % 8] = e[size_t(i)] = ggml::expf(e[size_t(i)] - maxScore);
                        sum += double(ggml::hsum8(lanes));
                    }
                    const float inverse = float(1.0 / sum);
                    for (int d = 0; d < headDim; ++d) {
                        float acc[4][8] = {};
                        for (int i = 0; i < cells; ++i) {
                            float& lane = acc[(i / 8) % 4][i % 8];
                            lane = std::fma(vAt(i, h / group)[d], e[size_t(i)] * inverse, lane);
                        }
                        const float want = ggml::reduce4x8(acc);
                        QVERIFY2(std::memcmp(&out[size_t(h * headDim + d)], &want, sizeof want) == 0,
                                 qPrintable(QString("headDim %1, %2 cells, head %3, element %4")
                                                .arg(headDim)
                                                .arg(cells)
                                                .arg(h)
                                                .arg(d)));
                    }
                }
            }
    }

    // Grouped-query attention against a naive softmax that repeats each KV head for its query heads,
    // and against the backend itself run on a cache holding the repeated heads (plain multi-head).
    void attentionGroupsHeadsAndFollowsMask() {
        const int nHeads = 6, nHeadsKv = 2, headDim = 8, group = nHeads / nHeadsKv, nSlots = 11;
        KvCache grouped(cacheConfig(nHeadsKv, headDim), 32, 4);
        KvCache repeated(cacheConfig(nHeads, headDim), 32, 4);
        grouped.append(5, nSlots);
        repeated.append(5, nSlots);
        const std::vector<float> k = test::normalValues(size_t(nSlots * nHeadsKv * headDim), 8, 1.5f);
        const std::vector<float> v = test::normalValues(size_t(nSlots * nHeadsKv * headDim), 9);
        auto kAt = [&](int s, int h) { return &k[size_t((s * nHeadsKv + h) * headDim)]; };
        auto vAt = [&](int s, int h) { return &v[size_t((s * nHeadsKv + h) * headDim)]; };
        for (int s = 0; s < nSlots; ++s) {
            for (int h = 0; h < nHeadsKv; ++h) {
                std::copy_n(kAt(s, h), headDim, grouped.key(0, 5, s, h));
                std::copy_n(vAt(s, h), headDim, grouped.value(0, 5, s, h));
            }
            for (int h = 0; h < nHeads; ++h) {
                std::copy_n(kAt(s, h / group), headDim, repeated.key(0, 5, s, h));
                std::copy_n(vAt(s, h / group), headDim, repeated.value(0, 5, s, h));
            }
        }
        // Row 0: causal at slot 9 (sees 0..9). Row 1: tree row seeing 0..5 plus nSlots 7 and 10.
        AttentionMask mask;
        mask.clear();
        mask.seqIds = {5, 5};
        mask.prefix = {10, 6};
        mask.extras = {7, 10};
        mask.extraBegin = {0, 0, 2};
        const std::vector<std::vector<int>> visible = {{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
                                                       {0, 1, 2, 3, 4, 5, 7, 10}};
        const std::vector<float> q = test::normalValues(size_t(2 * nHeads * headDim), 10);
        const float scale = 1.0f / std::sqrt(float(headDim));

        auto backend = referenceBackend(3);
        std::vector<float> outGrouped(q.size()), outRepeated(q.size());
        backend->attention(q, AttentionShape{nHeads, nHeadsKv, headDim, scale}, mask, grouped, 0, outGrouped);
        backend->attention(q, AttentionShape{nHeads, nHeads, headDim, scale}, mask, repeated, 0, outRepeated);
        for (size_t i = 0; i < q.size(); ++i)
            QVERIFY(std::fabs(outGrouped[i] - outRepeated[i]) < 1e-6);

        for (int t = 0; t < 2; ++t)
            for (int h = 0; h < nHeads; ++h) {
                const float* qh = &q[size_t((t * nHeads + h) * headDim)];
                std::vector<double> w;
                double maxScore = -1e300, sum = 0;
                for (int s : visible[size_t(t)]) {
                    double dot = 0;
                    for (int d = 0; d < headDim; ++d)
                        dot += double(qh[d]) * kAt(s, h / group)[d];
                    w.push_back(dot * scale);
                    maxScore = std::max(maxScore, w.back());
                }
                for (double& x : w)
                    sum += (x = std::exp(x - maxScore));
                for (int d = 0; d < headDim; ++d) {
                    double expected = 0;
                    for (size_t j = 0; j < w.size(); ++j)
                        expected += w[j] / sum * vAt(visible[size_t(t)][j], h / group)[d];
                    QVERIFY(std::fabs(outGrouped[size_t((t * nHeads + h) * headDim + d)] - expected) < 1e-5);
                }
            }
    }

    void swigluAndAddMatchNaive() {
        auto backend = referenceBackend();
        const std::vector<float> gate = test::normalValues(100, 11, 3.0f), up = test::normalValues(100, 12);
        std::vector<float> out(100), sum(100);
        backend->swiglu(gate, up, out);
        backend->add(gate, up, sum);
        for (size_t i = 0; i < 100; ++i) {
            const double g = gate[i];
            QVERIFY(std::fabs(out[i] - g / (1.0 + std::exp(-g)) * up[i]) < 1e-5);
            QCOMPARE(sum[i], gate[i] + up[i]);
        }
    }

    void rejectsMismatchedSizes() {
        auto backend = referenceBackend();
        const StoredTensor w(DType::F32, 32, 4, test::normalValues(128, 13));
        auto weight = backend->prepareWeight(w.view);
        std::vector<float> x(31), out(4);
        QVERIFY_THROWS_EXCEPTION(Error, backend->matmul(*weight, x, 1, out));
    }
};

QTEST_APPLESS_MAIN(TestCpuBackend)
#include "TestCpuBackend.moc"
