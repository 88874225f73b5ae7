// The K-quant integer dots (backend/cpu/KQuantDots.h): the activation quantizer against known values and
// its invariants, the scalar reference against the exact dot of the dequantized operands (io/Quants.h's
// dequantizer, summed in double), and the AVX2 and AVX-512 kernels (per row, the panel, the token lanes)
// against the scalar reference bit for bit.

#include "KernelTestData.h"
#include "backend/cpu/Avx2KQuantKernels.h"
#include "backend/cpu/Avx2KQuantLanes.h"
#include "backend/cpu/Avx512KQuantLanes.h"
#include "backend/cpu/Avx512KQuantPanel.h"
#include "backend/cpu/CpuFeatures.h"
#include "backend/cpu/KQuantDots.h"
#include "core/Half.h"
#include "io/Quants.h"

#include <QTest>
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace lathe;
using lathe::test::sameBits;

namespace {

constexpr DType kFormats[] = {DType::Q4_K, DType::Q5_K, DType::Q6_K};

int superBlockBytes(DType type) {
    return type == DType::Q4_K ? kQ4KBytes : type == DType::Q5_K ? kQ5KBytes : kQ6KBytes;
}

// Random bytes (every code, scale and min pattern is a valid super-block) with sane fp16 scales.
std::vector<uint8_t> randomKRow(DType type, int64_t superBlocks, std::mt19937& rng) {
    const int bytes = superBlockBytes(type);
    std::vector<uint8_t> row(size_t(superBlocks * bytes));
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> scale(-0.01f, 0.01f);
    for (auto& b : row)
        b = uint8_t(byte(rng));
    for (int64_t i = 0; i < superBlocks; ++i) {
        uint8_t* p = row.data() + i * bytes;
        const uint16_t d = floatToFp16(scale(rng)), dmin = floatToFp16(std::fabs(scale(rng)));
        if (type == DType::Q6_K) {
            std::memcpy(p + 208, &d, 2);
        } else {
            std::memcpy(p, &d, 2);
            std::memcpy(p + 2, &dmin, 2);
        }
    }
    return row;
}

std::vector<KActivationBlock> quantized(const std::vector<float>& x) {
    std::vector<KActivationBlock> blocks(x.size() / kKSuperBlock);
    quantizeActivationsK(x.data(), int64_t(x.size()), blocks.data());
    return blocks;
}

} // namespace

class TestKQuantDots : public QObject {
    Q_OBJECT
private slots:
    // Hand-worked: the largest magnitude is -2, so iscale = -127 / -2 = 63.5 and d = 1 / 63.5.
    void quantizesActivationsAsGgml() {
        std::vector<float> x(kKSuperBlock, 0.0f);
        x[0] = 1.0f;   // 63.5 -> 64 (a tie, to even)
        x[1] = -2.0f;  // -127
        x[2] = 0.5f;   // 31.75 -> 32
        x[3] = 0.25f;  // 15.875 -> 16
        x[17] = -1.0f; // -63.5 -> -64 (tie to even)
        const KActivationBlock b = quantized(x)[0];
        QCOMPARE(b.qs[0], int8_t(64));
        QCOMPARE(b.qs[1], int8_t(-127));
        QCOMPARE(b.qs[2], int8_t(32));
        QCOMPARE(b.qs[3], int8_t(16));
        QCOMPARE(b.qs[17], int8_t(-64));
        QVERIFY(sameBits(b.d, 1.0f / 63.5f));
        QCOMPARE(int(b.bsums[0]), 64 - 127 + 32 + 16);
        QCOMPARE(int(b.bsums[1]), -64);
        // A positive largest element maps to -127 (iscale is negative), an all-zero block to zeros.
        std::vector<float> y(2 * kKSuperBlock, 0.0f);
        y[5] = 3.0f;
        const std::vector<KActivationBlock> c = quantized(y);
        QCOMPARE(c[0].qs[5], int8_t(-127));
        QVERIFY(c[0].d < 0.0f);
        QCOMPARE(c[1].d, 0.0f);
        for (int j = 0; j < kKSuperBlock; ++j)
            QCOMPARE(c[1].qs[j], int8_t(0));
    }

    // The AVX2 quantizer against the scalar one, byte for byte, on ordinary blocks and on blocks made to
    // break it: NaNs with payloads, infinities, a largest magnitude so small that iscale is infinite, the
    // largest magnitude twice with opposite signs (the first one wins), ties, zeros and negative zeros.
    void avx2QuantizerGivesTheScalarBits() {
        if (!cpuHasAvx2()) QSKIP("no AVX2");
        std::mt19937 rng(31);
        std::uniform_int_distribution<int> pick(0, kKSuperBlock - 1);
        const float nanWithPayload = std::bit_cast<float>(0x7fc12345u);
        const float signalingNan = std::bit_cast<float>(0xff800001u);
        for (int trial = 0; trial < 400; ++trial) {
            std::vector<float> x = test::randomFloats(2 * kKSuperBlock, rng, trial % 2 ? 1e-3f : 50.0f);
            switch (trial % 8) {
            case 1: // NaNs among ordinary values
                x[size_t(pick(rng))] = nanWithPayload;
                x[size_t(pick(rng))] = signalingNan;
                break;
            case 2: // an infinity: iscale becomes zero
                x[size_t(pick(rng))] = trial % 16 < 8 ? INFINITY : -INFINITY;
                break;
            case 3: // denormals only: -127 / max overflows to infinity
                for (float& v : x)
                    v *= 1e-40f;
                break;
            case 4: { // the same magnitude twice, with opposite signs
                const int a = pick(rng), b = pick(rng);
                x[size_t(a)] = 1e6f;
                x[size_t(b)] = -1e6f;
                break;
            }
            case 5: // halves of a step (ties) and zeros of both signs
                for (int j = 0; j < kKSuperBlock; ++j)
                    x[size_t(j)] = j % 3 == 0 ? -0.0f : float(j % 7) * 0.5f;
                x[0] = 127.0f;
                break;
            case 6: // every element NaN in the first block
                std::fill(x.begin(), x.begin() + kKSuperBlock, nanWithPayload);
                break;
            case 7: // all zero in the second block
                std::fill(x.begin() + kKSuperBlock, x.end(), 0.0f);
                break;
            default:
                break;
            }
            std::vector<KActivationBlock> want(2), got(2);
            quantizeActivationsKScalar(x.data(), int64_t(x.size()), want.data());
            avx2::quantizeActivationsK(x.data(), int64_t(x.size()), got.data());
            for (size_t b = 0; b < 2; ++b)
                QVERIFY2(
                    std::memcmp(&want[b], &got[b], sizeof(KActivationBlock)) == 0,
                    qPrintable(QString("trial %1 (case %2), block %3").arg(trial).arg(trial % 8).arg(b)));
        }
    }

    void quantizedActivationsStayWithinHalfAStep() {
        std::mt19937 rng(7);
        const std::vector<float> x = test::randomFloats(8 * kKSuperBlock, rng, 3.0f);
        const std::vector<KActivationBlock> blocks = quantized(x);
        for (size_t i = 0; i < blocks.size(); ++i) {
            const KActivationBlock& b = blocks[i];
            for (int g = 0; g < 16; ++g) {
                int sum = 0;
                for (int j = 0; j < 16; ++j)
                    sum += b.qs[16 * g + j];
                QCOMPARE(int(b.bsums[g]), sum);
            }
            for (int j = 0; j < kKSuperBlock; ++j) {
                QVERIFY(b.qs[j] >= -127 && b.qs[j] <= 127);
                const float error = std::fabs(x[i * kKSuperBlock + j] - b.d * float(b.qs[j]));
                QVERIFY2(error <= std::fabs(b.d) * 0.5001f,
                         qPrintable(QString("block %1 element %2").arg(i).arg(j)));
            }
        }
    }

    // The integer lanes with float scales equal the real-number dot of what the blocks encode, up to the
    // float roundings of the per-super-block scale products and sums.
    void scalarDotMatchesTheDequantizedDot() {
        std::mt19937 rng(11);
        for (DType type : kFormats)
            for (int64_t superBlocks : {1, 2, 6, 9}) {
                const int64_t n = superBlocks * kKSuperBlock;
                for (int trial = 0; trial < 20; ++trial) {
                    const std::vector<uint8_t> row = randomKRow(type, superBlocks, rng);
                    const std::vector<KActivationBlock> x =
                        quantized(test::randomFloats(size_t(n), rng, 2.0f));
                    std::vector<float> w(static_cast<size_t>(n));
                    dequantizeRow(type, row.data(), w.data(), n);
                    double exact = 0.0, magnitude = 0.0;
                    for (int64_t j = 0; j < n; ++j) {
                        const double a = double(x[size_t(j / kKSuperBlock)].d) *
                                         x[size_t(j / kKSuperBlock)].qs[j % kKSuperBlock];
                        exact += double(w[size_t(j)]) * a;
                        magnitude += std::fabs(double(w[size_t(j)]) * a);
                    }
                    const float got = kQuantDotScalar(type, row.data(), x.data(), superBlocks);
                    QVERIFY2(std::fabs(double(got) - exact) <= 1e-5 * magnitude + 1e-30,
                             qPrintable(QString("%1, %2 super-blocks: %3 against %4 (magnitude %5)")
                                            .arg(QString::fromUtf8(dtypeName(type).data(),
                                                                   qsizetype(dtypeName(type).size())))
                                            .arg(superBlocks)
                                            .arg(double(got))
                                            .arg(exact)
                                            .arg(magnitude)));
                }
            }
    }

    // 1-4 tokens whose activations lie xStride blocks apart, against the reference one token at a time.
    void avx2KernelGivesTheScalarBits() {
        if (!cpuHasAvx2()) QSKIP("no AVX2");
        checkKernelAgainstScalar(avx2::kQuantDots, 4, 13);
    }

    // The panel product: four rows unpacked to int16 against 2, 4 or 6 tokens widened to int16, every output
    // against the reference bit for bit, with the rows and tokens strided as a matrix stores them.
    void avx512PanelGivesTheScalarBits() {
        if (!cpuHasAvx512()) QSKIP("no AVX-512 (or LATHE_CPU_KERNELS caps it)");
        std::mt19937 rng(19);
        for (DType type : kFormats)
            for (int64_t superBlocks : {1, 2, 3, 6, 9})
                for (int tokens : {2, 4, 6})
                    for (int trial = 0; trial < 6; ++trial) {
                        const uint64_t rowStride = uint64_t(superBlocks * superBlockBytes(type));
                        std::vector<uint8_t> rows;
                        for (int r = 0; r < avx512::kPanelRows; ++r) {
                            const std::vector<uint8_t> row = randomKRow(type, superBlocks, rng);
                            rows.insert(rows.end(), row.begin(), row.end());
                        }
                        const int64_t stride = superBlocks + 1;
                        const std::vector<KActivationBlock> x =
                            quantized(test::randomFloats(size_t(tokens * stride * kKSuperBlock), rng, 4.0f));
                        std::vector<int16_t> x16(x.size() * kKSuperBlock),
                            rows16(size_t(avx512::kPanelRows * superBlocks * kKSuperBlock));
                        avx512::widenKActivations(x.data(), int64_t(x.size()), x16.data());
                        std::vector<avx512::KRowScales> scales(size_t(avx512::kPanelRows * superBlocks));
                        avx512::unpackKRows(type, rows.data(), rowStride, avx512::kPanelRows, superBlocks,
                                            rows16.data(), scales.data());
                        float got[avx512::kPanelTokens * avx512::kPanelRows];
                        avx512::kQuantPanel(type, rows16.data(), scales.data(), x.data(), x16.data(), stride,
                                            tokens, superBlocks, got, avx512::kPanelRows);
                        for (int t = 0; t < tokens; ++t)
                            for (int r = 0; r < avx512::kPanelRows; ++r) {
                                const float want = kQuantDotScalar(type, rows.data() + r * rowStride,
                                                                   x.data() + t * stride, superBlocks);
                                QVERIFY2(sameBits(got[t * avx512::kPanelRows + r], want),
                                         qPrintable(
                                             QString("%1 super-blocks, token %2 of %3, row %4: %5 against %6")
                                                 .arg(superBlocks)
                                                 .arg(t)
                                                 .arg(tokens)
                                                 .arg(r)
                                                 .arg(double(got[t * avx512::kPanelRows + r]), 0, 'g', 9)
                                                 .arg(double(want), 0, 'g', 9)));
                            }
                    }
    }

    // The token-lanes products: 1-16 rows against up to 64 (AVX-512) or 32 (AVX2) tokens in groups of 16 or
    // 8, the last one padded, every output against the reference bit for bit, the tokens strided as a
    // matrix stores them. One trial in four has every code, scale and activation at its largest, where a
    // super-block's integer sum passes 2^24 and only ggml's eight separate lanes give the reference's
    // rounding.
    void avx512LanesGiveTheScalarBits() {
        if (!cpuHasAvx512()) QSKIP("no AVX-512 (or LATHE_CPU_KERNELS caps it)");
        checkLanesAgainstScalar(
            {1, 7, 16, 17, 40, 64}, 23, [](const LaneCase& c, float* out, int64_t outStride) {
                const int groups = (c.tokens + avx512::kLaneTokens - 1) / avx512::kLaneTokens;
                std::vector<avx512::KLaneBlock> xT(size_t(groups * c.superBlocks));
                for (int g = 0; g < groups; ++g)
                    avx512::transposeKActivations(
                        c.x.data() + g * avx512::kLaneTokens * c.xStride, c.xStride,
                        std::min(avx512::kLaneTokens, c.tokens - g * avx512::kLaneTokens), c.superBlocks,
                        xT.data() + g * c.superBlocks);
                std::vector<int16_t> rows16(size_t(c.nRows * c.superBlocks * kKSuperBlock));
                std::vector<avx512::KRowScales> scales(size_t(c.nRows * c.superBlocks));
                avx512::unpackKRows(c.type, c.rows.data(), c.rowStride, c.nRows, c.superBlocks, rows16.data(),
                                    scales.data(), avx512::KRowOrder::SuperBlockMajor);
                avx512::kQuantLanes(c.type, rows16.data(), scales.data(), c.nRows, xT.data(), c.tokens,
                                    c.superBlocks, out, outStride);
            });
    }

    void avx2QuadsGiveTheScalarBits() {
        if (!cpuHasAvx2()) QSKIP("no AVX2");
        checkLanesAgainstScalar(
            {1, 3, 8, 9, 20, 32}, 29, [](const LaneCase& c, float* out, int64_t outStride) {
                const int groups = (c.tokens + avx2::kQuadTokens - 1) / avx2::kQuadTokens;
                std::vector<avx2::KQuadBlock> xT(size_t(groups * c.superBlocks));
                for (int g = 0; g < groups; ++g)
                    avx2::transposeKQuads(c.x.data() + g * avx2::kQuadTokens * c.xStride, c.xStride,
                                          std::min(avx2::kQuadTokens, c.tokens - g * avx2::kQuadTokens),
                                          c.superBlocks, xT.data() + g * c.superBlocks);
                std::vector<uint8_t> codes(size_t(c.nRows * c.superBlocks * kKSuperBlock));
                std::vector<avx2::KQuadRowScales> scales(size_t(c.nRows * c.superBlocks));
                avx2::unpackKQuadRows(c.type, c.rows.data(), c.rowStride, c.nRows, c.superBlocks,
                                      codes.data(), scales.data());
                avx2::kQuantQuads(c.type, codes.data(), scales.data(), c.nRows, xT.data(), c.tokens,
                                  c.superBlocks, out, outStride);
            });
    }

private:
    // One case of a token-lanes product: nRows stored rows and tokens activation rows xStride blocks apart.
    struct LaneCase {
        DType type;
        int64_t superBlocks;
        int nRows, tokens;
        uint64_t rowStride;
        int64_t xStride;
        std::vector<uint8_t> rows;
        std::vector<KActivationBlock> x;
    };
    using LaneRun = void (*)(const LaneCase&, float* out, int64_t outStride);

    static void checkLanesAgainstScalar(std::initializer_list<int> tokenCounts, unsigned seed, LaneRun run) {
        std::mt19937 rng(seed);
        for (DType type : kFormats)
            for (int64_t superBlocks : {1, 2, 3, 6})
                for (int nRows : {1, 3, 4, 5, 7, 16})
                    for (int tokens : tokenCounts)
                        for (int trial = 0; trial < 4; ++trial) {
                            const bool extreme = trial == 3;
                            LaneCase c{type,
                                       superBlocks,
                                       nRows,
                                       tokens,
                                       uint64_t(superBlocks * superBlockBytes(type)),
                                       superBlocks + 1,
                                       {},
                                       {}};
                            for (int r = 0; r < nRows; ++r) {
                                std::vector<uint8_t> row = randomKRow(type, superBlocks, rng);
                                if (extreme)
                                    for (int64_t i = 0; i < superBlocks; ++i) {
                                        uint8_t* p = row.data() + i * superBlockBytes(type);
                                        if (type == DType::Q6_K) { // codes 63, scales 127
                                            std::memset(p, 0xff, 192);
                                            std::memset(p + 192, 0x7f, 16);
                                        } else { // codes, scales and mins at their largest
                                            std::memset(p + 4, 0xff, size_t(superBlockBytes(type) - 4));
                                        }
                                    }
                                c.rows.insert(c.rows.end(), row.begin(), row.end());
                            }
                            std::vector<float> xf =
                                test::randomFloats(size_t(tokens * c.xStride * kKSuperBlock), rng, 4.0f);
                            if (extreme) std::fill(xf.begin(), xf.end(), -1.0f); // every code 127
                            c.x = quantized(xf);
                            const float untouched = std::nanf("");
                            std::vector<float> got(size_t(tokens * (nRows + 1)), untouched);
                            run(c, got.data(), nRows + 1);
                            for (int t = 0; t < tokens; ++t) {
                                QVERIFY(std::isnan(got[size_t(t * (nRows + 1) + nRows)])); // the gap column
                                for (int r = 0; r < nRows; ++r) {
                                    const float want =
                                        kQuantDotScalar(type, c.rows.data() + r * c.rowStride,
                                                        c.x.data() + t * c.xStride, superBlocks);
                                    const float have = got[size_t(t * (nRows + 1) + r)];
                                    QVERIFY2(
                                        sameBits(have, want),
                                        qPrintable(
                                            QString("%1, %2 super-blocks, %3 rows, token %4 of %5, row "
                                                    "%6%7: %8 against %9")
                                                .arg(QString::fromUtf8(dtypeName(type).data(),
                                                                       qsizetype(dtypeName(type).size())))
                                                .arg(superBlocks)
                                                .arg(nRows)
                                                .arg(t)
                                                .arg(tokens)
                                                .arg(r)
                                                .arg(extreme ? " (largest values)" : "")
                                                .arg(double(have), 0, 'g', 9)
                                                .arg(double(want), 0, 'g', 9)));
                                }
                            }
                        }
    }

    using Kernel = void (*)(DType, const uint8_t*, const KActivationBlock*, int64_t, int, int64_t, float*);
    static void checkKernelAgainstScalar(Kernel kernel, int maxTokens, unsigned seed) {
        std::mt19937 rng(seed);
        for (DType type : kFormats)
            for (int64_t superBlocks : {1, 2, 3, 6, 9})
                for (int tokens = 1; tokens <= maxTokens; ++tokens)
                    for (int trial = 0; trial < 8; ++trial) {
                        const int64_t stride = superBlocks + 1;
                        const std::vector<uint8_t> row = randomKRow(type, superBlocks, rng);
                        const std::vector<KActivationBlock> x =
                            quantized(test::randomFloats(size_t(tokens * stride * kKSuperBlock), rng, 4.0f));
                        float got[8];
                        kernel(type, row.data(), x.data(), superBlocks, tokens, stride, got);
                        for (int t = 0; t < tokens; ++t) {
                            const float want =
                                kQuantDotScalar(type, row.data(), x.data() + t * stride, superBlocks);
                            QVERIFY2(sameBits(got[t], want),
                                     qPrintable(QString("%1, %2 super-blocks, token %3 of %4: %5 "
                                                        "against %6")
                                                    .arg(QString::fromUtf8(dtypeName(type).data(),
                                                                           qsizetype(dtypeName(type).size())))
                                                    .arg(superBlocks)
                                                    .arg(t)
                                                    .arg(tokens)
                                                    .arg(double(got[t]), 0, 'g', 9)
                                                    .arg(double(want), 0, 'g', 9)));
                        }
                    }
    }
};

QTEST_APPLESS_MAIN(TestKQuantDots)
#include "TestKQuantDots.moc"
