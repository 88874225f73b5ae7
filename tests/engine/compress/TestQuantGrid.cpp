// The quantization grids (compress/QuantGrid): every grid is stored without a second rounding (the
// stored format's own dequantizer gives back exactly the grid's values), zero stays exactly zero on a
// symmetric grid, every weight inside its group's range is within half a step of its value, and short
// last groups (576 = 4 x 128 + 64) get their own grid.

#include "compress/QuantGrid.h"
#include "core/Error.h"
#include "io/Quants.h"

#include <QTest>
#include <cmath>
#include <random>

using namespace lathe;

namespace {

std::vector<float> randomWeights(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> w(static_cast<size_t>(n));
    for (float& v : w)
        v = normal(rng);
    w[3] = 0.0f; // an exact zero (a pruned weight)
    w[7] = 0.2f; // outliers of both signs
    w[40] = -0.15f;
    return w;
}

} // namespace

class TestQuantGrid : public QObject {
    Q_OBJECT

private slots:
    void storedFormatHoldsTheGridExactly_data() {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("group");
        QTest::addColumn<bool>("symmetric");
        QTest::addColumn<int>("cols");
        QTest::addColumn<int>("format");
        QTest::newRow("w8 g32 sym") << 8 << 32 << true << 96 << int(DType::Q8_0);
        QTest::newRow("w8 per-channel") << 8 << 0 << true << 96 << int(DType::Q8_0);
        QTest::newRow("w4 g128 sym, short last group") << 4 << 128 << true << 576 << int(DType::Q4_0);
        QTest::newRow("w4 g64 asym") << 4 << 64 << false << 192 << int(DType::Q4_1);
        QTest::newRow("w4 per-channel asym") << 4 << 0 << false << 96 << int(DType::Q4_1);
        QTest::newRow("w3 g128 asym, short last group") << 3 << 128 << false << 576 << int(DType::LQ3_64);
        QTest::newRow("w3 g128 sym") << 3 << 128 << true << 256 << int(DType::LQ3_64);
        QTest::newRow("w3 g64 asym") << 3 << 64 << false << 192 << int(DType::LQ3_64);
        QTest::newRow("w3 g32 in a 4-bit container") << 3 << 32 << false << 96 << int(DType::Q4_1);
    }
    void storedFormatHoldsTheGridExactly() {
        QFETCH(int, bits);
        QFETCH(int, group);
        QFETCH(bool, symmetric);
        QFETCH(int, cols);
        QFETCH(int, format);
        const int64_t rows = 5;
        const QuantSpec spec{bits, group, symmetric};
        const std::vector<float> w = randomWeights(rows * cols, 11);
        const QuantizedMatrix q = quantizeNearest(w, rows, cols, spec);
        QCOMPARE(int(storageFormatFor(spec, cols)), format);
        const std::vector<uint8_t> bytes = encodeQuantized(q);
        const uint64_t stride = rowBytes(DType(format), uint64_t(cols));
        QCOMPARE(bytes.size(), size_t(stride * rows));
        const std::vector<float> grid = q.dequantized();
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
            dequantizeRow(DType(format), bytes.data() + r * stride, row.data(), cols);
            for (int64_t c = 0; c < cols; ++c)
                QCOMPARE(row[size_t(c)], grid[size_t(r * cols + c)]); // bit for bit
        }
        // Codes stay in range and a symmetric grid keeps the exact zero.
        for (uint8_t code : q.codes)
            QVERIFY(code < (1 << bits));
        if (symmetric) QCOMPARE(grid[3], 0.0f);
    }

    void roundingErrorIsAtMostHalfAStep_data() {
        QTest::addColumn<int>("bits");
        QTest::addColumn<bool>("symmetric");
        QTest::newRow("w8 sym") << 8 << true;
        QTest::newRow("w4 sym") << 4 << true;
        QTest::newRow("w4 asym") << 4 << false;
        QTest::newRow("w3 asym") << 3 << false;
    }
    void roundingErrorIsAtMostHalfAStep() {
        QFETCH(int, bits);
        QFETCH(bool, symmetric);
        const int64_t rows = 4, cols = 576, g = 128;
        const std::vector<float> w = randomWeights(rows * cols, 5);
        const QuantizedMatrix q = quantizeNearest(w, rows, cols, QuantSpec{bits, int(g), symmetric});
        QCOMPARE(q.groupsPerRow(), int64_t(5)); // four of 128, one of 64
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < cols; ++c) {
                const GroupParams& p = q.paramsOf(r, c);
                const float lo = std::min(p.min, p.min + p.scale * float((1 << bits) - 1));
                const float hi = std::max(p.min, p.min + p.scale * float((1 << bits) - 1));
                const float x = w[size_t(r * cols + c)];
                if (x < lo || x > hi)
                    continue; // outside the grid (clamped): only the extreme's fp16 rounding
                QVERIFY2(std::fabs(q.value(r, c) - x) <= 0.5f * std::fabs(p.scale) * 1.0001f,
                         qPrintable(QString("r %1 c %2: %3 vs %4, scale %5")
                                        .arg(r)
                                        .arg(c)
                                        .arg(q.value(r, c))
                                        .arg(x)
                                        .arg(p.scale)));
            }
    }

    void shortLastGroupHasItsOwnGrid() {
        // Columns 512..575 are tiny: in a group of their own they get a fine grid.
        const int64_t cols = 576;
        std::vector<float> w(size_t(cols), 1.0f);
        for (int64_t c = 512; c < cols; ++c)
            w[size_t(c)] = 0.001f * float(c - 512);
        const QuantizedMatrix q = quantizeNearest(w, 1, cols, QuantSpec{4, 128, false});
        // Its range is 0..0.063: a step of 0.063 / 15, not the 1.0 / 15 of a group shared with the ones.
        const GroupParams& p = q.paramsOf(0, 575);
        QVERIFY(std::fabs(p.scale - 0.063f / 15.0f) < 1e-5f);
        for (int64_t c = 512; c < cols; ++c)
            QVERIFY(std::fabs(q.value(0, c) - w[size_t(c)]) <= 0.5f * p.scale * 1.001f);
    }

    void rejectsWhatNoFormatHolds() {
        QVERIFY_THROWS_EXCEPTION(Error, QuantSpec({5, 128, true}).validate(128));
        QVERIFY_THROWS_EXCEPTION(Error, QuantSpec({8, 128, false}).validate(128));
        QVERIFY_THROWS_EXCEPTION(Error, QuantSpec({4, 48, true}).validate(96));
        QVERIFY_THROWS_EXCEPTION(Error, QuantSpec({4, 32, true}).validate(100));
    }
};

QTEST_APPLESS_MAIN(TestQuantGrid)
#include "TestQuantGrid.moc"
