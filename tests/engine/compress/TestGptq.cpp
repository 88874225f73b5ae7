// GPTQ (compress/Gptq) on a synthetic layer against two independent truths: with correlated inputs it
// reconstructs the layer's output better than round-to-nearest on the same grid (the point of the
// method), and with white inputs (H = I, no act order) it has nothing to correct and equals RTN.
// Also: the Cholesky factor of H⁻¹ it relies on, checked against an explicit inverse.

#include "compress/Gptq.h"
#include "compress/Hessian.h"
#include "core/ThreadPool.h"

#include <QTest>
#include <cmath>
#include <random>

using namespace lathe;

namespace {

struct Layer {
    int64_t rows = 0, cols = 0, tokens = 0;
    std::vector<float> w, x; // [rows][cols], [tokens][cols]
};

// X = Z·A: a few latent factors mixed into every input, so inputs are strongly correlated.
Layer correlatedLayer(int64_t rows, int64_t cols, int64_t tokens, int64_t factors, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    Layer l{rows, cols, tokens, std::vector<float>(size_t(rows * cols)),
            std::vector<float>(size_t(tokens * cols))};
    for (float& v : l.w)
        v = 0.05f * normal(rng);
    std::vector<float> a(size_t(factors * cols)), z(size_t(tokens * factors));
    for (float& v : a)
        v = normal(rng);
    for (float& v : z)
        v = normal(rng);
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t c = 0; c < cols; ++c) {
            double s = 0.01 * normal(rng);
            for (int64_t f = 0; f < factors; ++f)
                s += double(z[size_t(t * factors + f)]) * a[size_t(f * cols + c)];
            l.x[size_t(t * cols + c)] = float(s);
        }
    return l;
}

// ||W X - Ŵ X||² over the tokens, in double.
double outputError(const Layer& l, const std::vector<float>& w2) {
    double err = 0.0;
    for (int64_t t = 0; t < l.tokens; ++t)
        for (int64_t r = 0; r < l.rows; ++r) {
            double d = 0.0;
            for (int64_t c = 0; c < l.cols; ++c)
                d += (double(l.w[size_t(r * l.cols + c)]) - w2[size_t(r * l.cols + c)]) *
                     l.x[size_t(t * l.cols + c)];
            err += d * d;
        }
    return err;
}

} // namespace

class TestGptq : public QObject {
    Q_OBJECT

private slots:
    void inverseCholeskyMatchesExplicitInverse() {
        const Layer l = correlatedLayer(1, 24, 200, 30, 3);
        SquareMatrix h = inputHessian(l.x, l.tokens, l.cols);
        dampen(h, 0.01);
        const SquareMatrix u = inverseCholeskyUpper(h);
        // Uᵀ U · H = I.
        for (int64_t i = 0; i < h.n; ++i)
            for (int64_t j = 0; j < h.n; ++j) {
                double s = 0.0;
                for (int64_t k = 0; k < h.n; ++k) {
                    double inv = 0.0;
                    for (int64_t m = 0; m <= std::min(i, k); ++m)
                        inv += u.at(m, i) * u.at(m, k);
                    s += inv * h.at(k, j);
                }
                QVERIFY2(std::fabs(s - (i == j ? 1.0 : 0.0)) < 1e-8, qPrintable(QString::number(s)));
            }
        for (int64_t i = 0; i < h.n; ++i)
            for (int64_t j = 0; j < i; ++j)
                QCOMPARE(u.at(i, j), 0.0); // upper triangular
    }

    void beatsRoundToNearestOnCorrelatedInputs_data() {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("group");
        QTest::addColumn<bool>("actOrder");
        QTest::newRow("w4 g64") << 4 << 64 << false;
        QTest::newRow("w4 g64 act order") << 4 << 64 << true;
        QTest::newRow("w3 g128 act order") << 3 << 128 << true;
        QTest::newRow("w8 per-channel") << 8 << 0 << true;
    }
    void beatsRoundToNearestOnCorrelatedInputs() {
        QFETCH(int, bits);
        QFETCH(int, group);
        QFETCH(bool, actOrder);
        const Layer l = correlatedLayer(48, 256, 600, 24, 7);
        GptqSettings settings;
        settings.quant = QuantSpec{bits, group, bits == 8};
        settings.actOrder = actOrder;
        settings.blockSize = 64; // several blocks: the lazy batch update is exercised
        const GptqHessian h = prepareGptqHessian(inputHessian(l.x, l.tokens, l.cols), 0.01, actOrder);
        ThreadPool pool(2);
        const QuantizedMatrix gptq = quantizeGptq(l.w, l.rows, l.cols, h, settings, &pool);
        const QuantizedMatrix rtn = quantizeNearest(l.w, l.rows, l.cols, settings.quant);
        const double eGptq = outputError(l, gptq.dequantized()), eRtn = outputError(l, rtn.dequantized());
        qInfo("%s: output error GPTQ %.4g, RTN %.4g (ratio %.3f)", QTest::currentDataTag(), eGptq, eRtn,
              eGptq / eRtn);
        QVERIFY(eGptq < 0.7 * eRtn);
        // Same grids as RTN (static groups): only the codes differ.
        for (size_t i = 0; i < rtn.groups.size(); ++i) {
            QCOMPARE(gptq.groups[i].scale, rtn.groups[i].scale);
            QCOMPARE(gptq.groups[i].min, rtn.groups[i].min);
        }
    }

    void equalsRoundToNearestOnWhiteInputs() {
        const int64_t cols = 128;
        SquareMatrix identity{cols, std::vector<double>(size_t(cols * cols), 0.0)};
        for (int64_t i = 0; i < cols; ++i)
            identity.at(i, i) = 2.0;
        const Layer l = correlatedLayer(8, cols, 1, 1, 9);
        GptqSettings settings;
        settings.quant = QuantSpec{4, 32, false};
        settings.actOrder = false;
        const GptqHessian h = prepareGptqHessian(identity, 0.01, false);
        const QuantizedMatrix gptq = quantizeGptq(l.w, l.rows, cols, h, settings);
        const QuantizedMatrix rtn = quantizeNearest(l.w, l.rows, cols, settings.quant);
        QVERIFY(gptq.codes == rtn.codes);
    }

    void keepsPrunedWeightsAtZeroOnASymmetricGrid() {
        Layer l = correlatedLayer(16, 128, 300, 16, 13);
        for (size_t i = 0; i < l.w.size(); i += 2)
            l.w[i] = 0.0f; // half the weights pruned
        GptqSettings settings;
        settings.quant = QuantSpec{4, 128, true};
        const GptqHessian h = prepareGptqHessian(inputHessian(l.x, l.tokens, l.cols), 0.01, true);
        const std::vector<float> q = quantizeGptq(l.w, l.rows, l.cols, h, settings).dequantized();
        for (size_t i = 0; i < q.size(); i += 2)
            QCOMPARE(q[i], 0.0f);
    }
};

QTEST_APPLESS_MAIN(TestGptq)
#include "TestGptq.moc"
