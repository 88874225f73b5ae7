// backend/cpu/GgmlFloatOrder: ggml's polynomial exp against libm (it is accurate to ~1.5 ulp, so a few
// ulp of slack), its saturation outside the float range, and the ggml-order sums against double
// references (integers for the reductions, where every order gives the exact sum).

#include "backend/cpu/GgmlFloatOrder.h"

#include <QtTest>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

using namespace lathe;

class TestGgmlFloatOrder : public QObject {
    Q_OBJECT
private slots:
    void expMatchesLibmWithinUlps() {
        std::mt19937 rng(7);
        std::uniform_real_distribution<float> uniform(-87.0f, 88.0f);
        for (int i = 0; i < 200000; ++i) {
            const float x = i < 1000 ? -10.0f + 0.02f * float(i) : uniform(rng);
            const double want = std::exp(double(x));
            const double got = ggml::expf(x);
            QVERIFY2(std::fabs(got - want) <= 4e-7 * want, qPrintable(QString::number(double(x), 'g', 9)));
        }
    }

    void expSaturates() {
        QCOMPARE(ggml::expf(0.0f), 1.0f);
        QCOMPARE(ggml::expf(-std::numeric_limits<float>::infinity()), 0.0f);
        QCOMPARE(ggml::expf(-200.0f), 0.0f);
        QVERIFY(std::isinf(ggml::expf(200.0f)));
        // between 2^-126 and 2^-149 the result is subnormal but not zero
        const float tiny = ggml::expf(-95.0f);
        QVERIFY(tiny > 0.0f && std::fabs(double(tiny) - std::exp(-95.0)) <= 1e-6 * std::exp(-95.0) + 1e-45);
    }

    void siluIsXTimesSigmoid() {
        for (float x : {-20.0f, -3.5f, -0.25f, 0.0f, 0.5f, 2.0f, 30.0f}) {
            const double want = double(x) / (1.0 + std::exp(-double(x)));
            QVERIFY(std::fabs(ggml::silu(x) - want) <= 1e-6 * (1.0 + std::fabs(want)));
        }
    }

    void dotMatchesDoubleReference() {
        std::mt19937 rng(3);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (int n : {1, 7, 31, 32, 64, 100, 256}) {
            std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
            double want = 0, scale = 0;
            for (int i = 0; i < n; ++i) {
                x[size_t(i)] = normal(rng);
                y[size_t(i)] = normal(rng);
                want += double(x[size_t(i)]) * y[size_t(i)];
                scale += std::fabs(double(x[size_t(i)]) * y[size_t(i)]);
            }
            QVERIFY(std::fabs(ggml::dotF32(x.data(), y.data(), n) - want) <= 1e-6 * scale);
            // integers: exact whatever the order
            for (int i = 0; i < n; ++i) {
                x[size_t(i)] = float(i % 5 - 2);
                y[size_t(i)] = float(i % 7);
            }
            double exact = 0;
            for (int i = 0; i < n; ++i)
                exact += double(x[size_t(i)]) * y[size_t(i)];
            QCOMPARE(double(ggml::dotF32(x.data(), y.data(), n)), exact);
        }
    }

    void reductionsAreSums() {
        const float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        QCOMPARE(ggml::hsum8(v), 36.0f);
        float acc[4][8];
        for (int a = 0; a < 4; ++a)
            for (int l = 0; l < 8; ++l)
                acc[a][l] = float(a * 8 + l);
        QCOMPARE(ggml::reduce4x8(acc), 496.0f);
        // the grouping is ggml's: (v0+v4 + v2+v6) + (v1+v5 + v3+v7), visible with cancellation
        const float big[8] = {1e8f, 1.0f, -1e8f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
        QCOMPARE(ggml::hsum8(big), 1.0f);
    }

    void rotatePairUsesOneRounding() {
        float x0 = 3.0f, x1 = 4.0f;
        ggml::rotatePair(x0, x1, 0.0f, 1.0f); // 90 degrees
        QCOMPARE(x0, -4.0f);
        QCOMPARE(x1, 3.0f);
    }
};

QTEST_APPLESS_MAIN(TestGgmlFloatOrder)
#include "TestGgmlFloatOrder.moc"
