#include "core/Half.h"

#include <QtTest>
#include <cmath>
#include <limits>

using namespace lathe;

class TestHalf : public QObject {
    Q_OBJECT
private slots:
    void knownFp16Encodings() {
        // Values from the IEEE 754 binary16 definition.
        QCOMPARE(floatToFp16(1.0f), uint16_t(0x3c00));
        QCOMPARE(floatToFp16(-2.0f), uint16_t(0xc000));
        QCOMPARE(floatToFp16(65504.0f), uint16_t(0x7bff));
        QCOMPARE(floatToFp16(0.0f), uint16_t(0x0000));
        QCOMPARE(floatToFp16(-0.0f), uint16_t(0x8000));
        QCOMPARE(floatToFp16(5.9604645e-08f), uint16_t(0x0001)); // smallest subnormal
        QCOMPARE(floatToFp16(6.1035156e-05f), uint16_t(0x0400)); // smallest normal
        QCOMPARE(floatToFp16(1e6f), uint16_t(0x7c00));           // overflow to inf
        QCOMPARE(floatToFp16(std::numeric_limits<float>::infinity()), uint16_t(0x7c00));
        QVERIFY((floatToFp16(std::nanf("")) & 0x7c00) == 0x7c00 && (floatToFp16(std::nanf("")) & 0x3ff) != 0);
    }

    void roundsToNearestEven() {
        // 1 + 2^-11 lies exactly between 1 and the next half (1 + 2^-10): ties go to the even mantissa (1.0).
        QCOMPARE(floatToFp16(1.0f + 0x1p-11f), uint16_t(0x3c00));
        // 1 + 3*2^-11 lies between 1+2^-10 (odd) and 1+2^-9 (even): rounds up to even.
        QCOMPARE(floatToFp16(1.0f + 3 * 0x1p-11f), uint16_t(0x3c02));
    }

    void everyHalfRoundTrips() {
        for (uint32_t h = 0; h < 0x10000; ++h) {
            const float f = fp16ToFloat(uint16_t(h));
            if (std::isnan(f)) continue;
            QCOMPARE(floatToFp16(f), uint16_t(h));
        }
    }

    void bf16() {
        QCOMPARE(floatToBf16(1.0f), uint16_t(0x3f80));
        QCOMPARE(bf16ToFloat(0x3f80), 1.0f);
        QCOMPARE(floatToBf16(-3.0f), uint16_t(0xc040));
        // 1 + 2^-8 is halfway between bf16 1.0 and 1 + 2^-7: round to even (1.0).
        QCOMPARE(floatToBf16(1.0f + 0x1p-8f), uint16_t(0x3f80));
        for (uint32_t b = 0; b < 0x10000; ++b) {
            const float f = bf16ToFloat(uint16_t(b));
            if (std::isnan(f)) continue;
            QCOMPARE(floatToBf16(f), uint16_t(b));
        }
    }
};

QTEST_APPLESS_MAIN(TestHalf)
#include "TestHalf.moc"
