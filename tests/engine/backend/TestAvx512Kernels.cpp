// The AVX-512 kernels against scalar statements of the order llama.cpp follows on such a processor, bit
// for bit: the 16-lane F16 prefill tile (every row count, token counts around the 6-token tile, lengths
// of one and many 16-element steps) against fused sums reduced as ggml::hsum16, ggml::hsum16 itself
// against the compiler's _mm512_reduce_add_ps (what llamafile calls), and the VNNI 4-row tiles (prefill
// and decode) of Q4_0, Q4_1 and Q8_0 against quantizedDotScalar. Skipped on a processor without AVX-512
// F/BW/VL/VNNI (or with LATHE_CPU_KERNELS=avx2 or scalar).

#include "KernelTestData.h"
#include "backend/cpu/ActivationQuant.h"
#include "backend/cpu/Avx2Kernels.h"
#include "backend/cpu/Avx512AttentionKernels.h"
#include "backend/cpu/Avx512Kernels.h"
#include "backend/cpu/CpuFeatures.h"
#include "backend/cpu/GgmlFloatOrder.h"
#include "core/AlignedVector.h"
#include "core/Half.h"

#include <QTest>
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

using namespace lathe;
using namespace lathe::test;

namespace {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// What llamafile's hsum(__m512) returns: GCC's reduction intrinsic, as llama.cpp is built.
__attribute__((target("avx512f"))) float reduceAddPs(const float* v) {
    return _mm512_reduce_add_ps(_mm512_loadu_ps(v));
}
#endif

// One output of llamafile's F16 tile: lane l sums w[i] * x[i] over i % 16 == l, fused, in order.
float lanes16Dot(const float* w, const float* x, int64_t n) {
    float acc[16] = {};
    for (int64_t i = 0; i < n; ++i)
        acc[i % 16] = std::fma(w[i], x[i], acc[i % 16]);
    return ggml::hsum16(acc);
}

} // namespace

class TestAvx512Kernels : public QObject {
    Q_OBJECT

private slots:
    void init() {
        if (!cpuHasAvx512())
            QSKIP("this processor has no AVX-512 F/BW/VL/VNNI (or LATHE_CPU_KERNELS caps the kernels)");
    }

    void hsum16IsTheCompilersReduction() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
        std::mt19937 rng(21);
        for (int trial = 0; trial < 2000; ++trial) {
            // Wide exponents so that the grouping decides the rounding.
            std::vector<float> v = randomFloats(16, rng, 1.0f);
            for (float& x : v)
                x = std::ldexp(x, int(rng() % 40) - 20);
            QVERIFY(sameBits(ggml::hsum16(v.data()), reduceAddPs(v.data())));
        }
#else
        QSKIP("the reference is GCC's _mm512_reduce_add_ps (llama.cpp's compiler on Debian)");
#endif
    }

    void roundThroughFp16MatchesHalf() {
        std::mt19937 rng(22);
        for (int64_t n : {1, 15, 16, 577}) {
            std::vector<float> x = randomFloats(size_t(n), rng, 70000.0f); // past fp16's range too
            x[0] = 1.0f + 0x1p-11f;                                        // a tie: rounds to even
            std::vector<float> out(static_cast<size_t>(n));
            avx512::roundThroughFp16(x.data(), out.data(), n);
            for (int64_t i = 0; i < n; ++i)
                QVERIFY(sameBits(out[size_t(i)], fp16ToFloat(floatToFp16(x[size_t(i)]))));
        }
    }

    void f16RunsMatchSixteenLaneOrder() {
        std::mt19937 rng(23);
        for (int64_t n : {int64_t(16), int64_t(48), int64_t(576), avx512::kWidenedRowsMax + 16}) {
            for (int nRows = 1; nRows <= 4; ++nRows) {
                for (int nTokens : {1, 2, 5, 6, 7, 11, 12, 13, 60}) {
                    std::vector<uint16_t> wh(size_t(nRows * n));
                    std::vector<float> fromWh(wh.size());
                    const std::vector<float> w = randomFloats(wh.size(), rng, 2.0f);
                    for (size_t i = 0; i < wh.size(); ++i) {
                        wh[i] = floatToFp16(w[i]);
                        fromWh[i] = fp16ToFloat(wh[i]);
                    }
                    std::vector<float> x = randomFloats(size_t(nTokens * n), rng, 2.0f);
                    avx512::roundThroughFp16(x.data(), x.data(), int64_t(x.size()));
                    const void* rows[4];
                    for (int r = 0; r < nRows; ++r)
                        rows[r] = wh.data() + r * n;
                    const int64_t outStride = nRows + 3; // outputs of other rows sit between
                    // Without room to widen, and with it (where long enough runs widen the rows first).
                    AlignedVector<float> widened(size_t(nRows * n));
                    for (float* room : {static_cast<float*>(nullptr), widened.data()}) {
                        std::vector<float> out(size_t(nTokens * outStride), -1.0f);
                        avx512::f16DotsRun(rows, nRows, x.data(), n, nTokens, n, out.data(), outStride, room);
                        for (int t = 0; t < nTokens; ++t)
                            for (int r = 0; r < nRows; ++r) {
                                QVERIFY2(sameBits(out[size_t(t * outStride + r)],
                                                  lanes16Dot(fromWh.data() + r * n, x.data() + t * n, n)),
                                         qPrintable(QString("n %1, %2 rows, %3 tokens%6: row %4 token %5")
                                                        .arg(n)
                                                        .arg(nRows)
                                                        .arg(nTokens)
                                                        .arg(r)
                                                        .arg(t)
                                                        .arg(room ? ", widened" : "")));
                            }
                        for (int t = 0; t < nTokens; ++t)
                            for (int64_t c = nRows; c < outStride; ++c)
                                QCOMPARE(out[size_t(t * outStride + c)], -1.0f);
                    }
                }
            }
        }
    }

    void quantizedFourRowTileMatchesScalar() {
        std::mt19937 rng(24);
        for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q8_0}) {
            QVERIFY(avx512::hasIntegerKernels(type));
            const std::string mismatch = fourRowTileMismatch(
                type, 8, rng,
                [&](const uint8_t* const* rows, const ActivationBlock* x, int64_t blocks, int tokens,
                    float* out) {
                    avx512::quantizedDots4Rows(type, rows, x, blocks, tokens, blocks, out, 4);
                });
            QVERIFY2(mismatch.empty(), mismatch.c_str());
        }
        QVERIFY(!avx512::hasIntegerKernels(DType::Q5_1));
    }

    // Decode: consecutive rows against one activation row, in groups of four and a rest of up to three.
    void quantizedRowsOfOneTokenMatchScalar() {
        std::mt19937 rng(25);
        for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q8_0})
            for (int64_t blocks : {1, 7, 18}) {
                for (int64_t nRows : {1, 4, 7, 12}) {
                    std::vector<uint8_t> rows;
                    for (int64_t r = 0; r < nRows; ++r) {
                        const std::vector<uint8_t> row = randomRow(type, blocks, rng);
                        rows.insert(rows.end(), row.begin(), row.end());
                    }
                    const uint64_t rowStride = rows.size() / size_t(nRows);
                    std::vector<ActivationBlock> x(static_cast<size_t>(blocks));
                    const std::vector<float> values = randomFloats(size_t(blocks * 32), rng, 2.0f);
                    quantizeActivationsScalar(values.data(), blocks * 32, x.data());
                    std::vector<float> out(static_cast<size_t>(nRows));
                    avx512::quantizedDotsRows(type, rows.data(), rowStride, nRows, x.data(), blocks,
                                              out.data());
                    for (int64_t r = 0; r < nRows; ++r)
                        QVERIFY2(
                            sameBits(out[size_t(r)],
                                     quantizedDotScalar(type, rows.data() + r * rowStride, x.data(), blocks)),
                            qPrintable(QString("%1 blocks, %2 rows: row %3").arg(blocks).arg(nRows).arg(r)));
                }
            }
    }
    // Attention's scores, both kernels (keys by pointer, and keys in blocks of sixteen with NaN in the
    // cells past the last key): every query-key pair against avx2::dotF32Fused times the scale, and each
    // row's maximum against std::max over the row in order, for every head size taken, 1-4 queries and key
    // counts around the eight- and sixteen-key groups; keys spread through memory as a paged cache has them.
    void queryKeyScoresMatchAvx2Dots() {
        std::mt19937 rng(26);
        QVERIFY(!avx512::queryKeyScoresTakes(48) && !avx512::queryKeyScoresTakes(160));
        for (int64_t n : {32, 64, 96, 128}) {
            QVERIFY(avx512::queryKeyScoresTakes(n));
            for (int nQueries = 1; nQueries <= 4; ++nQueries)
                for (int nKeys : {0, 1, 7, 8, 9, 16, 23, 64, 70}) {
                    const std::vector<float> q = randomFloats(size_t(4 * n), rng, 3.0f);
                    std::vector<float> k = randomFloats(size_t(nKeys + 1) * size_t(n) * 2, rng, 3.0f);
                    if (nKeys == 23) k[size_t(5 * 2 * n + 3)] = NAN; // key 5's score is NaN
                    const float* queries[4];
                    for (int g = 0; g < 4; ++g)
                        queries[g] = q.data() + g * n;
                    std::vector<const float*> keys;
                    for (int i = 0; i < nKeys; ++i)
                        keys.push_back(k.data() + int64_t(i) * 2 * n + (i % 3) * 4); // gaps, odd offsets
                    AlignedVector<float> keyBlocks(size_t(n * ((nKeys + 15) / 16 * 16)), NAN);
                    for (int i = 0; i < nKeys; ++i)
                        for (int64_t d = 0; d < n; ++d)
                            keyBlocks[size_t(avx512::keyBlockOffset(d, i, n))] = keys[size_t(i)][d];
                    for (bool transposed : {false, true}) {
                        const int64_t stride = nKeys + 3;
                        std::vector<float> scores(size_t(4 * stride), 7.0f);
                        float maxScores[4];
                        const float scale = 0.125f + 1e-3f;
                        if (transposed)
                            avx512::transposedKeyScores(queries, nQueries, keyBlocks.data(), nKeys, n, scale,
                                                        scores.data(), stride, maxScores);
                        else
                            avx512::queryKeyScores(queries, nQueries, keys.data(), nKeys, n, scale,
                                                   scores.data(), stride, maxScores);
                        const QString where = QString("n %1, %2 queries, %3 keys, transposed %4")
                                                  .arg(n)
                                                  .arg(nQueries)
                                                  .arg(nKeys)
                                                  .arg(transposed);
                        for (int g = 0; g < nQueries; ++g) {
                            float largest = -INFINITY;
                            for (int i = 0; i < nKeys; ++i) {
                                const float expected =
                                    avx2::dotF32Fused(queries[g], keys[size_t(i)], n) * scale;
                                largest = std::max(largest, expected);
                                QVERIFY2(sameBits(scores[size_t(g * stride + i)], expected),
                                         qPrintable(where + QString(": query %1, key %2").arg(g).arg(i)));
                            }
                            for (int64_t i = nKeys; i < stride; ++i) // nothing written past the row
                                QCOMPARE(scores[size_t(g * stride + i)], 7.0f);
                            QVERIFY2(maxScores[g] == largest, qPrintable(where));
                        }
                    }
                }
        }
    }

    // P.V on values in the paired layout against avx2::cellLaneDots on the same values one row after
    // another, each query alone, bit for bit: pair counts around the 4-pair tile, query counts around the
    // 6-query tile, lengths around the eight-cell groups, equal or ragged (as two causal rows' are, and
    // wider apart). The paired buffer's cells past the longest length hold NaN, which a read past the
    // mask would spread, and each query's weights end at its length.
    void pairedCellLaneDotsMatchAvx2() {
        std::mt19937 rng(27);
        for (int nPairs : {1, 3, 4, 5, 9, 32})
            for (int nQueries : {1, 2, 3, 6, 7, 13})
                for (int64_t n : {1, 7, 8, 9, 63, 64, 200})
                    for (int spread : {0, 1, 9}) {
                        std::vector<int64_t> lengths;
                        for (int q = 0; q < nQueries; ++q)
                            lengths.push_back(std::max<int64_t>(1, n - spread * int64_t(rng() % 3)));
                        const int64_t stride = (n + 7) / 8 * 8;
                        const std::vector<float> values = randomFloats(size_t(2 * nPairs * n), rng, 2.0f);
                        std::vector<float> rowsLayout(size_t(2 * nPairs * stride));
                        std::vector<float> paired(size_t(2 * nPairs * stride), NAN);
                        for (int64_t d = 0; d < 2 * nPairs; ++d)
                            for (int64_t i = 0; i < n; ++i) {
                                rowsLayout[size_t(d * stride + i)] = values[size_t(d * n + i)];
                                paired[size_t(avx512::pairedValueOffset(d, i, stride))] =
                                    values[size_t(d * n + i)];
                            }
                        const int64_t longest = *std::max_element(lengths.begin(), lengths.end());
                        for (int64_t d = 0; d < 2 * nPairs; ++d) // cells no query reaches
                            for (int64_t i = longest; i < n; ++i)
                                paired[size_t(avx512::pairedValueOffset(d, i, stride))] = NAN;
                        std::vector<const float*> rows, pairs;
                        for (int64_t d = 0; d < 2 * nPairs; ++d)
                            rows.push_back(rowsLayout.data() + d * stride);
                        for (int p = 0; p < nPairs; ++p)
                            pairs.push_back(paired.data() + int64_t(p) * 2 * stride);
                        std::vector<std::vector<float>> xs, outs;
                        std::vector<const float*> xPointers;
                        std::vector<float*> outPointers;
                        for (int q = 0; q < nQueries; ++q) {
                            xs.push_back(randomFloats(size_t(lengths[size_t(q)]), rng, 1.0f));
                            outs.emplace_back(size_t(2 * nPairs + 1), -1.0f);
                        }
                        for (int q = 0; q < nQueries; ++q) {
                            xPointers.push_back(xs[size_t(q)].data());
                            outPointers.push_back(outs[size_t(q)].data());
                        }
                        avx512::pairedCellLaneDots(pairs.data(), nPairs, xPointers.data(), lengths.data(),
                                                   nQueries, outPointers.data());
                        for (int q = 0; q < nQueries; ++q) {
                            std::vector<float> want(size_t(2 * nPairs));
                            avx2::cellLaneDots(rows.data(), 2 * nPairs, &xPointers[size_t(q)], 1,
                                               lengths[size_t(q)], want.data(), 0);
                            for (int64_t r = 0; r < 2 * nPairs; ++r)
                                QVERIFY2(
                                    sameBits(outs[size_t(q)][size_t(r)], want[size_t(r)]),
                                    qPrintable(
                                        QString("%1 pairs, %2 queries, %3 cells, spread %4: query %5 row %6")
                                            .arg(nPairs)
                                            .arg(nQueries)
                                            .arg(n)
                                            .arg(spread)
                                            .arg(q)
                                            .arg(r)));
                            QCOMPARE(outs[size_t(q)][size_t(2 * nPairs)], -1.0f); // nothing past its rows
                        }
                    }
    }
};

QTEST_GUILESS_MAIN(TestAvx512Kernels)
#include "TestAvx512Kernels.moc"
