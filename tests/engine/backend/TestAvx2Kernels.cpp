// The AVX2 kernels against their scalar references, bit for bit: every block format with an integer
// dot (odd block counts, 1 to 4 tokens, extreme weights such as -128 in Q8_0), activation quantization,
// per-token activation quantization, the LQ3_64 row decoder and decode dots, the float dots over odd
// lengths in F32/F16/BF16, the fused dot and fma of attention, and ggml's exp and silu over the whole float
// range (denormal results, overflow, infinities, NaN). Skipped on a processor without AVX2/FMA/F16C.

#include "KernelTestData.h"
#include "backend/cpu/ActivationQuant.h"
#include "backend/cpu/Avx2Kernels.h"
#include "backend/cpu/CpuFeatures.h"
#include "backend/cpu/GgmlFloatOrder.h"
#include "core/Half.h"
#include "io/Quants.h"

#include <QTest>
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using namespace lathe;
using namespace lathe::test;

namespace {

// Attention's P.V inputs: `cells` value rows of `width` floats (and pointers to them) and one weight
// per cell.
struct ValueRows {
    ValueRows(int cells, size_t width, std::mt19937& rng) {
        for (int i = 0; i < cells; ++i)
            rows.push_back(randomFloats(width, rng, 1.0f));
        for (const std::vector<float>& r : rows)
            pointers.push_back(r.data());
        weights = randomFloats(size_t(cells), rng, 1.0f);
    }
    float at(int cell, int64_t element) const { return rows[size_t(cell)][size_t(element)]; }
    std::vector<std::vector<float>> rows;
    std::vector<const float*> pointers;
    std::vector<float> weights;
};

} // namespace

class TestAvx2Kernels : public QObject {
    Q_OBJECT

private slots:
    void init() {
        if (!cpuHasAvx2()) QSKIP("this processor has no AVX2/FMA/F16C (or LATHE_CPU_KERNELS=scalar)");
    }

    void quantizeActivationsMatchesScalar() {
        std::mt19937 rng(1);
        for (int64_t blocks : {1, 3, 18, 129}) {
            std::vector<float> x = randomFloats(size_t(blocks * 32), rng, 4.0f);
            for (int j = 0; j < 32; ++j)
                x[size_t(j)] = 0.0f; // an all-zero block: scale 0
            if (blocks > 1) {        // a tiny value beside a huge one in the second block
                x[40] = 1e-30f;
                x[41] = -3e4f;
            }
            const size_t count = size_t(blocks);
            std::vector<ActivationBlock> simd(count), scalar(count);
            avx2::quantizeActivations(x.data(), blocks * 32, simd.data());
            quantizeActivationsScalar(x.data(), blocks * 32, scalar.data());
            for (int64_t b = 0; b < blocks; ++b) {
                QVERIFY(sameBits(simd[size_t(b)].d, scalar[size_t(b)].d));
                QVERIFY(sameBits(simd[size_t(b)].s, scalar[size_t(b)].s));
                QVERIFY(std::memcmp(simd[size_t(b)].qs, scalar[size_t(b)].qs, 32) == 0);
            }
        }
    }

    // Per-token mode: one scale for the row, clamped codes. Rows whose largest value sits in different
    // blocks, an all-zero row, and rows holding an infinity or a NaN (which must agree too).
    void perTokenQuantizationMatchesScalar() {
        std::mt19937 rng(5);
        const float inf = std::numeric_limits<float>::infinity();
        for (int variant = 0; variant < 6; ++variant)
            for (int64_t blocks : {1, 3, 18, 129}) {
                std::vector<float> x = randomFloats(size_t(blocks * 32), rng, 4.0f);
                if (variant == 1) x[size_t(blocks * 32 - 1)] = -97.0f; // the max in the last block
                if (variant == 2) std::fill(x.begin(), x.end(), 0.0f);
                if (variant == 3) x[7] = inf;
                if (variant == 4) x[size_t(blocks * 16)] = std::numeric_limits<float>::quiet_NaN();
                if (variant == 5) x[0] = 1e-38f * float(variant); // tiny values around a normal max
                const size_t count = size_t(blocks);
                std::vector<ActivationBlock> simd(count), scalar(count);
                avx2::quantizeActivationsPerToken(x.data(), blocks * 32, simd.data());
                quantizeActivationsPerTokenScalar(x.data(), blocks * 32, scalar.data());
                for (int64_t b = 0; b < blocks; ++b) {
                    QVERIFY(sameBits(simd[size_t(b)].d, scalar[size_t(b)].d));
                    QVERIFY(sameBits(simd[size_t(b)].s, scalar[size_t(b)].s));
                    QVERIFY(std::memcmp(simd[size_t(b)].qs, scalar[size_t(b)].qs, 32) == 0);
                }
                if (variant == 1) {
                    // The row's one scale: every block carries it, and only the max reaches -127.
                    QCOMPARE(scalar[0].d, 97.0f / 127.0f);
                    QCOMPARE(scalar[count - 1].d, 97.0f / 127.0f);
                    QCOMPARE(int(scalar[count - 1].qs[31]), -127);
                }
            }
    }

    void lq3DequantizeMatchesScalar() {
        std::mt19937 rng(6);
        std::uniform_int_distribution<int> byte(0, 255);
        for (int64_t blocks : {1, 2, 5, 12}) {
            std::vector<uint8_t> row(size_t(blocks * 28));
            for (auto& b : row)
                b = uint8_t(byte(rng));
            const std::vector<float> dm = randomFloats(size_t(2 * blocks), rng, 3.0f);
            for (int64_t b = 0; b < blocks; ++b) {
                const uint16_t d = floatToFp16(dm[size_t(2 * b)]), m = floatToFp16(dm[size_t(2 * b + 1)]);
                std::memcpy(row.data() + b * 28, &d, 2);
                std::memcpy(row.data() + b * 28 + 2, &m, 2);
            }
            if (blocks == 2) { // a subnormal fp16 scale
                const uint16_t tiny = 0x0003;
                std::memcpy(row.data(), &tiny, 2);
            }
            const size_t n = size_t(blocks * 64);
            std::vector<float> simd(n), scalar(n);
            avx2::dequantizeLq3(row.data(), simd.data(), int64_t(n));
            dequantizeRow(DType::LQ3_64, row.data(), scalar.data(), int64_t(n));
            // The decode dots, weights decoded in registers: CpuBackend's eight-lane fused dot of each
            // dequantized row (eight rows here: the same row at different offsets of a longer buffer).
            const std::vector<float> x = randomFloats(n, rng, 2.0f);
            std::vector<uint8_t> many(row.size() * 8);
            for (int r = 0; r < 8; ++r) { // row r: the blocks rotated by r
                for (int64_t b = 0; b < blocks; ++b)
                    std::memcpy(many.data() + size_t(r) * row.size() + size_t(b * 28),
                                row.data() + size_t((b + r) % blocks * 28), 28);
            }
            const uint8_t* rows[8];
            float want[8];
            for (int r = 0; r < 8; ++r) {
                rows[r] = many.data() + size_t(r) * row.size();
                std::vector<float> w(n);
                dequantizeRow(DType::LQ3_64, rows[r], w.data(), int64_t(n));
                float lanes[8] = {};
                for (size_t i = 0; i < n; i += 8)
                    for (int l = 0; l < 8; ++l)
                        lanes[l] = std::fma(w[i + size_t(l)], x[i + size_t(l)], lanes[l]);
                want[r] = ggml::hsum8(lanes);
            }
            for (int nRows = 1; nRows <= 8; ++nRows) {
                float got[8];
                avx2::lq3Dots(rows, nRows, x.data(), int64_t(n), got);
                for (int r = 0; r < nRows; ++r)
                    QVERIFY2(sameBits(got[r], want[r]),
                             qPrintable(QString("%1 blocks, %2 rows, row %3").arg(blocks).arg(nRows).arg(r)));
            }
            for (size_t i = 0; i < n; ++i)
                if (!sameBits(simd[i], scalar[i]))
                    QFAIL(qPrintable(QString("%1 blocks, element %2: %3 != %4")
                                         .arg(blocks)
                                         .arg(i)
                                         .arg(double(simd[i]), 0, 'g', 9)
                                         .arg(double(scalar[i]), 0, 'g', 9)));
        }
    }

    void quantizedDotsMatchScalarInEveryFormat() {
        std::mt19937 rng(2);
        for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0})
            for (int64_t blocks : {1, 2, 7, 18, 129}) {
                const std::vector<uint8_t> row = randomRow(type, blocks, rng);
                std::vector<ActivationBlock> x(size_t(4 * blocks));
                const std::vector<float> values = randomFloats(size_t(4 * blocks * 32), rng, 2.0f);
                quantizeActivationsScalar(values.data(), 4 * blocks * 32, x.data());
                for (int tokens = 1; tokens <= 4; ++tokens) {
                    float dots[4];
                    avx2::quantizedDots(type, row.data(), x.data(), blocks, tokens, blocks, dots);
                    for (int t = 0; t < tokens; ++t) {
                        const float want =
                            quantizedDotScalar(type, row.data(), x.data() + t * blocks, blocks);
                        if (!sameBits(dots[t], want))
                            QFAIL(qPrintable(QString("%1, %2 blocks, token %3 of %4: %5 != %6")
                                                 .arg(QString::fromStdString(std::string(dtypeName(type))))
                                                 .arg(blocks)
                                                 .arg(t)
                                                 .arg(tokens)
                                                 .arg(double(dots[t]), 0, 'g', 9)
                                                 .arg(double(want), 0, 'g', 9)));
                    }
                }
            }
    }

    // The 4-row tile of the formats without offset: every pair equals the scalar dot, bit for bit.
    void quantizedFourRowTileMatchesScalar() {
        std::mt19937 rng(5);
        for (DType type : {DType::Q4_0, DType::Q5_0, DType::Q8_0}) {
            QVERIFY(avx2::quantizedDots4RowsSupported(type));
            const std::string mismatch = fourRowTileMismatch(
                type, 2, rng,
                [&](const uint8_t* const* rows, const ActivationBlock* x, int64_t blocks, int tokens,
                    float* out) { avx2::quantizedDots4Rows(type, rows, x, blocks, tokens, blocks, out, 4); });
            QVERIFY2(mismatch.empty(), mismatch.c_str());
        }
        QVERIFY(!avx2::quantizedDots4RowsSupported(DType::Q4_1));
    }

    // The same tile on rows and activations widened to int16 (prefill): bit for bit, and the widened
    // values are the codes themselves, lane l of the two halves holding elements 4l..4l + 3.
    void int16FourRowTileMatchesScalar() {
        std::mt19937 rng(9);
        QVERIFY(!avx2::int16TileSupported(DType::Q5_1) && avx2::int16TileSupported(DType::Q4_1));
        for (DType type : {DType::Q4_0, DType::Q5_0, DType::Q8_0, DType::Q4_1}) {
            const std::string mismatch =
                fourRowTileMismatch(type, 2, rng,
                                    [&](const uint8_t* const* rows, const ActivationBlock* x, int64_t blocks,
                                        int tokens, float* out) {
                                        std::vector<avx2::Int16Block> w(size_t(4 * blocks)),
                                            xw(size_t(tokens * blocks));
                                        std::vector<float> scales(w.size()), mins(w.size());
                                        float* m = type == DType::Q4_1 ? mins.data() : nullptr;
                                        avx2::widenRows4(type, rows, blocks, w.data(), scales.data(), m);
                                        avx2::widenActivations(x, tokens * blocks, xw.data());
                                        avx2::int16Dots4Rows(w.data(), scales.data(), m, xw.data(), x, blocks,
                                                             tokens, blocks, out, 4);
                                    });
            QVERIFY2(mismatch.empty(), mismatch.c_str());
        }
        ActivationBlock x{};
        for (int i = 0; i < 32; ++i)
            x.qs[i] = int8_t(i % 2 == 0 ? i : -i - 96);
        avx2::Int16Block wide{};
        avx2::widenActivations(&x, 1, &wide);
        for (int l = 0; l < 8; ++l)
            for (int k = 0; k < 2; ++k) {
                QCOMPARE(wide.pairs[0][2 * l + k], int16_t(x.qs[4 * l + k]));
                QCOMPARE(wide.pairs[1][2 * l + k], int16_t(x.qs[4 * l + 2 + k]));
            }
    }

    // Consecutive rows against one activation row in one call (decode): each row's dot, bit for bit,
    // whether the row falls in a group of four (interleaved) or in the rest (row by row).
    void quantizedRowsOfOneTokenMatchScalar() {
        std::mt19937 rng(6);
        for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0})
            for (int64_t blocks : {1, 18, 129})
                for (int64_t rows : {1, 4, 5, 11}) {
                    const uint64_t stride = rowBytes(type, uint64_t(blocks * 32));
                    std::vector<uint8_t> matrix;
                    for (int64_t r = 0; r < rows; ++r) {
                        const std::vector<uint8_t> row = randomRow(type, blocks, rng);
                        matrix.insert(matrix.end(), row.begin(), row.end());
                    }
                    QCOMPARE(matrix.size(), size_t(stride * rows));
                    std::vector<ActivationBlock> x(static_cast<size_t>(blocks));
                    const std::vector<float> values = randomFloats(size_t(blocks * 32), rng, 2.0f);
                    quantizeActivationsScalar(values.data(), blocks * 32, x.data());
                    float got[11];
                    avx2::quantizedDotsRows(type, matrix.data(), stride, rows, x.data(), blocks, got);
                    for (int64_t r = 0; r < rows; ++r)
                        QVERIFY2(sameBits(got[r], quantizedDotScalar(type, matrix.data() + r * stride,
                                                                     x.data(), blocks)),
                                 qPrintable(QString("%1 blocks, row %2 of %3").arg(blocks).arg(r).arg(rows)));
                }
    }

    // Softmax's exp and sum over a causal row: ggml::expf of each score less the maximum, the sum of
    // each group of eight as ggml::hsum8, added in order to a double.
    void expAndSumInEightsMatchesScalar() {
        std::mt19937 rng(10);
        for (int n : {8, 16, 64, 200}) {
            const std::vector<float> scores = randomFloats(size_t(n), rng, 20.0f);
            const float maxScore = *std::max_element(scores.begin(), scores.end());
            std::vector<float> got = scores;
            const double sum = avx2::expAndSumInEights(got.data(), n, maxScore);
            double want = 0.0;
            for (int i0 = 0; i0 < n; i0 += 8) {
                float lanes[8];
                for (int l = 0; l < 8; ++l) {
                    lanes[l] = ggml::expf(scores[size_t(i0 + l)] - maxScore);
                    QVERIFY(sameBits(got[size_t(i0 + l)], lanes[l]));
                }
                want += double(ggml::hsum8(lanes));
            }
            QCOMPARE(sum, want);
        }
    }

    // Rope of adjacent pairs: each pair as ggml::rotatePair turns it, whole vectors and the tail.
    void ropeAdjacentPairsMatchesRotatePair() {
        std::mt19937 rng(9);
        for (int nDims : {2, 6, 8, 14, 64, 128}) {
            const std::vector<float> head = randomFloats(size_t(nDims), rng, 3.0f),
                                     cosSin = randomFloats(size_t(nDims), rng, 1.0f);
            std::vector<float> got = head;
            avx2::ropeAdjacentPairs(got.data(), cosSin.data(), nDims);
            for (int i = 0; i < nDims; i += 2) {
                float a = head[size_t(i)], b = head[size_t(i + 1)];
                ggml::rotatePair(a, b, cosSin[size_t(i)], cosSin[size_t(i + 1)]);
                QVERIFY2(sameBits(got[size_t(i)], a) && sameBits(got[size_t(i + 1)], b),
                         qPrintable(QString("nDims %1, pair %2").arg(nDims).arg(i / 2)));
            }
        }
    }

    void floatDotsMatchScalar() {
        std::mt19937 rng(3);
        for (int64_t n : {1, 7, 8, 9, 31, 32, 33, 64, 70, 100, 128, 576, 1537}) {
            const std::vector<float> a = randomFloats(size_t(n), rng, 3.0f),
                                     b = randomFloats(size_t(n), rng, 3.0f);
            const size_t count = size_t(n);
            std::vector<uint16_t> h(count), bf(count);
            std::vector<float> fromH(count), fromBf(count);
            for (int64_t i = 0; i < n; ++i) {
                h[size_t(i)] = floatToFp16(a[size_t(i)]);
                fromH[size_t(i)] = fp16ToFloat(h[size_t(i)]);
                bf[size_t(i)] = uint16_t(std::bit_cast<uint32_t>(a[size_t(i)]) >> 16);
                fromBf[size_t(i)] = bf16ToFloat(bf[size_t(i)]);
            }
            // The reference: CpuBackend's eight-lane fused dot on the dequantized row, the lanes summed
            // as llamafile's hsum (ggml::hsum8).
            auto reference = [&](const std::vector<float>& w, const std::vector<float>& x) {
                float lanes[8] = {};
                int64_t i = 0;
                for (; i + 8 <= n; i += 8)
                    for (int l = 0; l < 8; ++l)
                        lanes[l] = std::fma(w[size_t(i + l)], x[size_t(i + l)], lanes[l]);
                float sum = ggml::hsum8(lanes);
                for (; i < n; ++i)
                    sum = std::fma(w[size_t(i)], x[size_t(i)], sum);
                return sum;
            };
            QVERIFY(sameBits(avx2::dotLanes8(DType::F32, a.data(), b.data(), n), reference(a, b)));
            QVERIFY(sameBits(avx2::dotLanes8(DType::F16, h.data(), b.data(), n), reference(fromH, b)));
            QVERIFY(sameBits(avx2::dotLanes8(DType::BF16, bf.data(), b.data(), n), reference(fromBf, b)));
            // Tiles of up to 4 rows x 3 tokens give each pair's dot.
            const std::vector<float> a2 = randomFloats(count, rng, 3.0f), b2 = randomFloats(count, rng, 3.0f);
            const std::vector<float> a3 = randomFloats(count, rng, 3.0f);
            const void* rows[8] = {a.data(), a2.data(), a3.data(), b2.data(),
                                   b.data(), a.data(),  a3.data(), a2.data()};
            const std::vector<float>* rowValues[8] = {&a, &a2, &a3, &b2, &b, &a, &a3, &a2};
            const float* tokens[3] = {b.data(), a3.data(), a.data()};
            const std::vector<float>* tokenValues[3] = {&b, &a3, &a};
            for (int nr = 1; nr <= 8; ++nr)
                for (int nt = 1; nt <= 3; ++nt) {
                    float tile[3 * 8];
                    avx2::floatDots(DType::F32, rows, nr, tokens, nt, n, tile, 8);
                    for (int t = 0; t < nt; ++t)
                        for (int r = 0; r < nr; ++r)
                            QVERIFY(sameBits(tile[t * 8 + r], reference(*rowValues[r], *tokenValues[t])));
                }
            QVERIFY(sameBits(avx2::dotF32Fused(a.data(), b.data(), n), ggml::dotF32(a.data(), b.data(), n)));

            // F16 weights against fp16 activations (ggml rounds them) in decode: ggml_vec_dot_f16's order
            // (four accumulators of eight lanes over 32-element steps, GGML_F32Cx8_REDUCE, a double
            // tail). Prefill's tiles: floatRunsMatchScalar.
            std::vector<uint16_t> xh(count);
            std::vector<float> fromXh(count);
            avx2::toFp16(b.data(), xh.data(), n);
            for (size_t i = 0; i < count; ++i) {
                QCOMPARE(xh[i], floatToFp16(b[i]));
                fromXh[i] = fp16ToFloat(xh[i]);
            }
            std::vector<uint16_t> h2(count);
            std::vector<float> fromH2(count);
            for (size_t i = 0; i < count; ++i) {
                h2[i] = floatToFp16(a2[i]);
                fromH2[i] = fp16ToFloat(h2[i]);
            }
            const void* halfRows[4] = {h.data(), h2.data(), h2.data(), h.data()};
            const std::vector<float>* halfRowValues[4] = {&fromH, &fromH2, &fromH2, &fromH};
            auto ggmlF16 = [&](const std::vector<float>& w, const std::vector<float>& x) {
                float acc[4][8] = {};
                const int64_t whole = n / 32 * 32;
                for (int64_t i = 0; i < whole; i += 32)
                    for (int q = 0; q < 4; ++q)
                        for (int l = 0; l < 8; ++l)
                            acc[q][l] =
                                std::fma(w[size_t(i + 8 * q + l)], x[size_t(i + 8 * q + l)], acc[q][l]);
                double sum = ggml::reduce4x8(acc);
                for (int64_t i = whole; i < n; ++i)
                    sum += double(w[size_t(i)] * x[size_t(i)]);
                return float(sum);
            };
            for (int nr = 1; nr <= 4; ++nr) {
                float got[4];
                avx2::f16DotsGgml(halfRows, nr, xh.data(), n, got);
                for (int r = 0; r < nr; ++r)
                    QVERIFY(sameBits(got[r], ggmlF16(*halfRowValues[r], fromXh)));
            }

            std::vector<float> accSimd = randomFloats(size_t(n), rng, 1.0f), accScalar = accSimd;
            avx2::fmaInto(accSimd.data(), a.data(), 0.37f, n);
            for (int64_t i = 0; i < n; ++i)
                accScalar[size_t(i)] = std::fma(a[size_t(i)], 0.37f, accScalar[size_t(i)]);
            for (int64_t i = 0; i < n; ++i)
                QVERIFY(sameBits(accSimd[size_t(i)], accScalar[size_t(i)]));
            // Several queries against one key, several accumulators from one value: each as alone.
            const float* queries[3] = {a.data(), b.data(), a3.data()};
            float dots[3];
            avx2::dotsF32Fused(queries, 3, b2.data(), n, dots);
            for (int g = 0; g < 3; ++g)
                QVERIFY(sameBits(dots[g], ggml::dotF32(queries[g], b2.data(), n)));
            const float* keys[8] = {a.data(),  b.data(), a2.data(), a3.data(),
                                    b2.data(), b.data(), a.data(),  a2.data()};
            for (int count : {1, 5, 8}) {
                float eight[8];
                avx2::dotsF32FusedTransposed(a3.data(), keys, count, n, eight);
                for (int k = 0; k < count; ++k)
                    QVERIFY(sameBits(eight[k], ggml::dotF32(a3.data(), keys[k], n)));
                // Several queries against the same keys: each as alone.
                for (int nQueries : {1, 2, 3}) {
                    float many[3 * 8];
                    avx2::queriesDotsF32FusedTransposed(queries, nQueries, keys, count, n, many);
                    for (int g = 0; g < nQueries; ++g)
                        for (int k = 0; k < count; ++k)
                            QVERIFY(sameBits(many[g * 8 + k], ggml::dotF32(queries[g], keys[k], n)));
                }
            }
            // P.V with lanes by cell index: the scalar order of attendExact's batched rows.
            if (n % 8 == 0) {
                const int cells = 21;
                const ValueRows v(cells, count, rng);
                std::vector<float> got(count);
                avx2::weightedSumLanes8(v.pointers.data(), v.weights.data(), cells, n, got.data());
                for (int64_t d = 0; d < n; ++d) {
                    float lanes[8] = {};
                    for (int i = 0; i < cells; ++i)
                        lanes[i % 8] = std::fma(v.at(i, d), v.weights[size_t(i)], lanes[i % 8]);
                    QVERIFY(sameBits(got[size_t(d)], ggml::hsum8(lanes)));
                }
            }
            // P.V of one row (decode): accumulator (cell / 8) % 4, lane cell % 8, reduced as ggml::reduce4x8.
            if (n % 8 == 0)
                for (int cells : {1, 7, 8, 21, 32, 33, 70}) {
                    const ValueRows v(cells, count, rng);
                    std::vector<float> got(count);
                    avx2::weightedSum4x8Lanes(v.pointers.data(), v.weights.data(), cells, n, got.data());
                    for (int64_t d = 0; d < n; ++d) {
                        float acc[4][8] = {};
                        for (int i = 0; i < cells; ++i) {
                            float& lane = acc[(i / 8) % 4][i % 8];
                            lane = std::fma(v.at(i, d), v.weights[size_t(i)], lane);
                        }
                        QVERIFY2(sameBits(got[size_t(d)], ggml::reduce4x8(acc)),
                                 qPrintable(QString("%1 cells, n %2, element %3").arg(cells).arg(n).arg(d)));
                    }
                }
            std::vector<float> many[2] = {accSimd, accSimd};
            float* accs[2] = {many[0].data(), many[1].data()};
            const float ps[2] = {0.25f, -1.5f};
            avx2::fmaIntoMany(accs, b.data(), ps, 2, n);
            for (int g = 0; g < 2; ++g)
                for (int64_t i = 0; i < n; ++i)
                    QVERIFY(sameBits(many[g][size_t(i)], std::fma(b[size_t(i)], ps[g], accSimd[size_t(i)])));
        }
    }

    // Prefill's F16 and BF16 rows widened once: every 16-bit pattern to the float the scalar reference
    // gives (a length of 65536 + 5 leaves a scalar tail), and the F32 tile on widened rows gives the 16-bit
    // tile's bits.
    void toFloatWidensExactly() {
        std::vector<uint16_t> all(65536 + 5);
        for (size_t i = 0; i < all.size(); ++i)
            all[i] = uint16_t(i * 40503u);
        std::vector<float> out(all.size());
        for (DType type : {DType::F16, DType::BF16}) {
            avx2::toFloat(type, all.data(), out.data(), int64_t(all.size()));
            for (size_t i = 0; i < all.size(); ++i)
                QVERIFY(sameBits(out[i], type == DType::F16 ? fp16ToFloat(all[i]) : bf16ToFloat(all[i])));
        }
        std::mt19937 rng(29);
        const int64_t n = 99, nRows = 4;
        const int nTokens = 5;
        const std::vector<float> x = randomFloats(size_t(nTokens * n), rng, 2.0f);
        for (DType type : {DType::F16, DType::BF16}) {
            std::vector<uint16_t> stored(size_t(nRows * n));
            const std::vector<float> values = randomFloats(stored.size(), rng, 1.0f);
            for (size_t i = 0; i < stored.size(); ++i)
                stored[i] = type == DType::F16 ? floatToFp16(values[i]) : floatToBf16(values[i]);
            std::vector<float> widened(stored.size());
            const void* rows16[4];
            const void* rows32[4];
            for (int r = 0; r < nRows; ++r) {
                avx2::toFloat(type, stored.data() + r * n, widened.data() + r * n, n);
                rows16[r] = stored.data() + r * n;
                rows32[r] = widened.data() + r * n;
            }
            std::vector<float> want(size_t(nTokens * nRows)), got(want.size());
            avx2::floatDotsRun(type, rows16, nRows, x.data(), n, nTokens, n, want.data(), nRows);
            avx2::floatDotsRun(DType::F32, rows32, nRows, x.data(), n, nTokens, n, got.data(), nRows);
            for (size_t i = 0; i < want.size(); ++i)
                QVERIFY(sameBits(got[i], want[i]));
        }
    }

    // F16 prefill's activations: every value rounded to fp16 as F16C rounds (nearest even, overflow to
    // infinity) and widened back, for lengths with and without an 8-lane tail.
    void roundThroughFp16MatchesHalf() {
        std::mt19937 rng(23);
        for (int64_t n : {1, 7, 8, 577}) {
            std::vector<float> x = randomFloats(size_t(n), rng, 70000.0f); // past fp16's range too
            x[0] = 1.0f + 0x1p-11f;                                        // a tie: rounds to even
            std::vector<float> out(static_cast<size_t>(n));
            avx2::roundThroughFp16(x.data(), out.data(), n);
            for (int64_t i = 0; i < n; ++i)
                QVERIFY(sameBits(out[size_t(i)], fp16ToFloat(floatToFp16(x[size_t(i)]))));
            QVERIFY(sameBits(out[0], 1.0f));
        }
    }

    // A prefill token block in one call (floatDotsRun): every (row, token) output is the eight-lane
    // fused dot of that pair, for any number of tokens (whole 3-token tiles and a rest) and rows, in F32,
    // F16 and BF16, and F16 against activations rounded through fp16 (roundThroughFp16) as prefill runs.
    void floatRunsMatchScalar() {
        std::mt19937 rng(11);
        for (int64_t n : {8, 70, 576}) {
            for (int nRows : {1, 3, 4, 5, 8}) {
                for (int nTokens : {1, 2, 3, 4, 5, 7, 63, 64}) {
                    const std::vector<float> w = randomFloats(size_t(nRows * n), rng, 2.0f);
                    const std::vector<float> x = randomFloats(size_t(nTokens * n), rng, 2.0f);
                    std::vector<uint16_t> wh(w.size()), wbf(w.size()), xh(x.size());
                    std::vector<float> fromWh(w.size()), fromWbf(w.size()), fromXh(x.size());
                    for (size_t i = 0; i < w.size(); ++i) {
                        wh[i] = floatToFp16(w[i]);
                        fromWh[i] = fp16ToFloat(wh[i]);
                        wbf[i] = uint16_t(std::bit_cast<uint32_t>(w[i]) >> 16);
                        fromWbf[i] = bf16ToFloat(wbf[i]);
                    }
                    for (size_t i = 0; i < x.size(); ++i) {
                        xh[i] = floatToFp16(x[i]);
                        fromXh[i] = fp16ToFloat(xh[i]);
                    }
                    auto reference = [&](const std::vector<float>& wv, const std::vector<float>& xv, int r,
                                         int t) {
                        float lanes[8] = {};
                        int64_t i = 0;
                        for (; i + 8 <= n; i += 8)
                            for (int l = 0; l < 8; ++l)
                                lanes[l] =
                                    std::fma(wv[size_t(r * n + i + l)], xv[size_t(t * n + i + l)], lanes[l]);
                        float sum = ggml::hsum8(lanes);
                        for (; i < n; ++i)
                            sum = std::fma(wv[size_t(r * n + i)], xv[size_t(t * n + i)], sum);
                        return sum;
                    };
                    auto check = [&](const std::vector<float>& got, const std::vector<float>& wv,
                                     const std::vector<float>& xv, const char* what) {
                        for (int t = 0; t < nTokens; ++t)
                            for (int r = 0; r < nRows; ++r)
                                QVERIFY2(sameBits(got[size_t(t * nRows + r)], reference(wv, xv, r, t)),
                                         qPrintable(QString("%1: n %2, %3 rows, %4 tokens, row %5 token %6")
                                                        .arg(what)
                                                        .arg(n)
                                                        .arg(nRows)
                                                        .arg(nTokens)
                                                        .arg(r)
                                                        .arg(t)));
                    };
                    const void* rows[8];
                    std::vector<float> got(size_t(nRows * nTokens));
                    for (int r = 0; r < nRows; ++r)
                        rows[r] = w.data() + r * n;
                    avx2::floatDotsRun(DType::F32, rows, nRows, x.data(), n, nTokens, n, got.data(), nRows);
                    check(got, w, x, "F32");
                    for (int r = 0; r < nRows; ++r)
                        rows[r] = wbf.data() + r * n;
                    avx2::floatDotsRun(DType::BF16, rows, nRows, x.data(), n, nTokens, n, got.data(), nRows);
                    check(got, fromWbf, x, "BF16");
                    for (int r = 0; r < nRows; ++r)
                        rows[r] = wh.data() + r * n;
                    avx2::floatDotsRun(DType::F16, rows, nRows, x.data(), n, nTokens, n, got.data(), nRows);
                    check(got, fromWh, x, "F16");
                    std::vector<float> roundedX(x.size());
                    avx2::roundThroughFp16(x.data(), roundedX.data(), int64_t(x.size()));
                    QVERIFY(roundedX == fromXh);
                    avx2::floatDotsRun(DType::F16, rows, nRows, roundedX.data(), n, nTokens, n, got.data(),
                                       nRows);
                    check(got, fromWh, fromXh, "F16 x fp16");
                }
            }
        }
    }

    // P.V with the values transposed: each output is the lane-by-cell sum weightedSumLanes8 gives, and
    // nothing past the cells is read (NaN placed there must not reach a result).
    void cellLaneDotsMatchWeightedSum() {
        std::mt19937 rng(77);
        const float nan = std::numeric_limits<float>::quiet_NaN();
        for (int cells : {1, 7, 8, 9, 21, 64, 70})
            for (int nRows : {1, 3, 4, 9})
                for (int nTokens : {1, 2, 3, 4, 5}) {
                    std::vector<std::vector<float>> rows(static_cast<size_t>(nRows)),
                        xs(static_cast<size_t>(nTokens));
                    std::vector<const float*> rowPointers, xPointers;
                    for (auto& r : rows) {
                        r = randomFloats(size_t(cells), rng, 1.0f);
                        r.resize(size_t(cells) + 8, nan);
                        rowPointers.push_back(r.data());
                    }
                    for (auto& x : xs) {
                        x = randomFloats(size_t(cells), rng, 1.0f);
                        x.resize(size_t(cells) + 8, nan);
                        xPointers.push_back(x.data());
                    }
                    const int64_t outStride = nRows + 2;
                    std::vector<float> out(size_t(nTokens * outStride), -7.0f);
                    avx2::cellLaneDots(rowPointers.data(), nRows, xPointers.data(), nTokens, cells,
                                       out.data(), outStride);
                    // The reference: weightedSumLanes8 over values[i][r] = rows[r][i] (n = 8 columns).
                    std::vector<std::vector<float>> values(size_t(cells), std::vector<float>(8, 0.0f));
                    std::vector<const float*> valuePointers;
                    for (int i = 0; i < cells; ++i) {
                        for (int r = 0; r < nRows && r < 8; ++r)
                            values[size_t(i)][size_t(r)] = rows[size_t(r)][size_t(i)];
                        valuePointers.push_back(values[size_t(i)].data());
                    }
                    for (int t = 0; t < nTokens; ++t) {
                        float expected[8];
                        avx2::weightedSumLanes8(valuePointers.data(), xs[size_t(t)].data(), cells, 8,
                                                expected);
                        for (int r = 0; r < nRows; ++r) {
                            float lanes[8] = {};
                            for (int i = 0; i < cells; ++i)
                                lanes[i % 8] = std::fma(rows[size_t(r)][size_t(i)], xs[size_t(t)][size_t(i)],
                                                        lanes[i % 8]);
                            const float got = out[size_t(t * outStride + r)];
                            QVERIFY2(sameBits(got, ggml::hsum8(lanes)),
                                     qPrintable(
                                         QString("cells %1 rows %2 tokens %3").arg(cells).arg(nRows).arg(t)));
                            if (r < 8) QVERIFY(sameBits(got, expected[r]));
                        }
                        QCOMPARE(out[size_t(t * outStride + nRows)], -7.0f); // outside the tile: untouched
                    }
                }
    }

    void expAndSiluMatchScalarOverTheRange() {
        std::vector<float> x;
        for (float v = -200.0f; v <= 200.0f; v += 0.173f)
            x.push_back(v);
        for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 87.0f, 88.8f, -87.5f, -103.0f, -126.5f, 126.5f, 191.9f,
                        192.5f, std::numeric_limits<float>::infinity(),
                        -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()})
            x.push_back(v);
        while (x.size() % 8 != 0)
            x.push_back(1.0f);
        std::vector<float> e(x.size()), up(x.size(), 1.5f), s(x.size());
        avx2::expf8(x.data(), e.data(), int64_t(x.size()));
        avx2::siluMul(x.data(), up.data(), s.data(), int64_t(x.size()));
        for (size_t i = 0; i < x.size(); ++i) {
            if (!sameBits(e[i], ggml::expf(x[i])))
                QFAIL(qPrintable(QString("exp(%1): %2 != %3")
                                     .arg(double(x[i]))
                                     .arg(double(e[i]))
                                     .arg(double(ggml::expf(x[i])))));
            QVERIFY(sameBits(s[i], ggml::silu(x[i]) * 1.5f));
        }
    }
};

QTEST_APPLESS_MAIN(TestAvx2Kernels)
#include "TestAvx2Kernels.moc"
