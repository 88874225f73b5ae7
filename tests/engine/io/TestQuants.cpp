// Every dequantizer against blocks built byte by byte here, with expected values worked out from
// the format's description (element i's bits located by a closed formula, not by replaying the
// decoder's loops); the reference quantizers against hand-computed blocks and round-trip bounds.

#include "IoTestFiles.h"
#include "core/Error.h"
#include "core/Half.h"
#include "io/Quants.h"

#include <QtTest>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

using namespace lathe;

namespace {

void putHalf(std::vector<uint8_t>& b, size_t at, uint16_t h) {
    std::memcpy(b.data() + at, &h, 2);
}

std::vector<float> decode(DType type, const std::vector<uint8_t>& block) {
    const auto& info = dtypeInfo(type);
    const int64_t n = int64_t(block.size() / info.blockBytes * info.blockSize);
    std::vector<float> out(size_t(n), -999.0f);
    dequantizeRow(type, block.data(), out.data(), n);
    return out;
}

// Q3_K: 16 six-bit scales packed as ggml's quantizer stores them (low 4 bits in bytes 0..7, the top
// 2 bits of scale j at bit 2*(j/4) of byte 8 + j%4).
void packQ3Scales(const int* biased, uint8_t* out) {
    std::memset(out, 0, 12);
    for (int j = 0; j < 16; ++j) {
        const int l = biased[j];
        if (j < 8)
            out[j] = uint8_t(l & 0xf);
        else
            out[j - 8] |= uint8_t((l & 0xf) << 4);
        out[8 + j % 4] |= uint8_t((l >> 4) << (2 * (j / 4)));
    }
}

// Q4_K/Q5_K: 8 six-bit scales and mins packed as ggml's quantizer stores them.
void packK4Scales(const int* scales, const int* mins, uint8_t* out) {
    std::memset(out, 0, 12);
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            out[j] = uint8_t(scales[j]);
            out[j + 4] = uint8_t(mins[j]);
        } else {
            out[j + 4] = uint8_t((scales[j] & 0xf) | ((mins[j] & 0xf) << 4));
            out[j - 4] |= uint8_t((scales[j] >> 4) << 6);
            out[j] |= uint8_t((mins[j] >> 4) << 6);
        }
    }
}

} // namespace

class TestQuants : public QObject {
    Q_OBJECT
private slots:
    void plainFloats() {
        const float f32[3] = {1.5f, -0.0f, 3e38f};
        std::vector<uint8_t> b(12);
        std::memcpy(b.data(), f32, 12);
        QCOMPARE(decode(DType::F32, b), (std::vector<float>{1.5f, -0.0f, 3e38f}));

        // fp16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest normal), inf.
        std::vector<uint8_t> h(12);
        const uint16_t halves[6] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00};
        std::memcpy(h.data(), halves, 12);
        const auto hf = decode(DType::F16, h);
        QCOMPARE(hf[0], 1.0f);
        QCOMPARE(hf[1], -2.0f);
        QCOMPARE(hf[2], 65504.0f);
        QCOMPARE(hf[3], std::ldexp(1.0f, -24));
        QCOMPARE(hf[4], std::ldexp(1.0f, -14));
        QVERIFY(std::isinf(hf[5]) && hf[5] > 0);

        // bf16 is the top half of a float: 0x3f80 = 1, 0xc040 = -3, 0x7fc0 = nan.
        std::vector<uint8_t> bf(6);
        const uint16_t bhalves[3] = {0x3f80, 0xc040, 0x7fc0};
        std::memcpy(bf.data(), bhalves, 6);
        const auto bff = decode(DType::BF16, bf);
        QCOMPARE(bff[0], 1.0f);
        QCOMPARE(bff[1], -3.0f);
        QVERIFY(std::isnan(bff[2]));
    }

    void plainFloatQuantizers() {
        // 1 + 2^-8 lies halfway between bf16 1.0 (0x3f80) and 1.0078125 (0x3f81): ties to even.
        const float in[4] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -2.0f, 1e6f};
        uint16_t out[4];
        quantizeRow(DType::BF16, in, out, 4);
        QCOMPARE(out[0], uint16_t(0x3f80));
        QCOMPARE(out[1], uint16_t(0x3f82));
        QCOMPARE(out[2], uint16_t(0xc000));
        quantizeRow(DType::F16, in, out, 4);
        QCOMPARE(out[0], uint16_t(0x3c04)); // exact in fp16 (10 mantissa bits): mantissa 4
        QCOMPARE(out[2], uint16_t(0xc000));
        QCOMPARE(out[3], uint16_t(0x7c00)); // beyond 65504: inf
    }

    void q4_0() {
        // d = 0.5; byte j holds element j (low nibble) and element j+16 (high nibble).
        std::vector<uint8_t> b(18);
        putHalf(b, 0, 0x3800);
        for (int j = 0; j < 16; ++j)
            b[2 + j] = uint8_t(j | ((15 - j) << 4));
        const auto y = decode(DType::Q4_0, b);
        QCOMPARE(y[0], -4.0f);  // (0 - 8) * 0.5
        QCOMPARE(y[8], 0.0f);   // (8 - 8) * 0.5
        QCOMPARE(y[15], 3.5f);  // (15 - 8) * 0.5
        QCOMPARE(y[16], 3.5f);  // high nibble of byte 0 is 15
        QCOMPARE(y[31], -4.0f); // high nibble of byte 15 is 0
        for (int i = 0; i < 32; ++i) {
            const int nibble = i < 16 ? i : 15 - (i - 16);
            QCOMPARE(y[i], float(nibble - 8) * 0.5f);
        }
    }

    void q4_1() {
        // d = 0.25, m = -1.
        std::vector<uint8_t> b(20);
        putHalf(b, 0, 0x3400);
        putHalf(b, 2, 0xbc00);
        for (int j = 0; j < 16; ++j)
            b[4 + j] = uint8_t(j | ((15 - j) << 4));
        const auto y = decode(DType::Q4_1, b);
        QCOMPARE(y[0], -1.0f);
        QCOMPARE(y[4], 0.0f);
        QCOMPARE(y[15], 2.75f);
        QCOMPARE(y[16], 2.75f);
        QCOMPARE(y[31], -1.0f);
    }

    void q5_0() {
        // d = 1; qh = 0xAAAA5555: elements 0..15 get the fifth bit when even, 16..31 when odd.
        std::vector<uint8_t> b(22);
        putHalf(b, 0, 0x3c00);
        const uint32_t qh = 0xAAAA5555u;
        std::memcpy(b.data() + 2, &qh, 4);
        for (int j = 0; j < 16; ++j)
            b[6 + j] = uint8_t(j | ((15 - j) << 4));
        const auto y = decode(DType::Q5_0, b);
        QCOMPARE(y[0], 0.0f);   // 0 + 16 - 16
        QCOMPARE(y[1], -15.0f); // 1 - 16
        QCOMPARE(y[2], 2.0f);   // 2 + 16 - 16
        QCOMPARE(y[16], -1.0f); // 15 - 16 (bit 16 of qh is 0)
        QCOMPARE(y[17], 14.0f); // 14 + 16 - 16 (bit 17 is 1)
        QCOMPARE(y[31], 0.0f);  // 0 + 16 - 16 (bit 31 is 1)
    }

    void q5_1() {
        // d = 0.5, m = 2; qh = 0x80000001: fifth bit only on elements 0 and 31.
        std::vector<uint8_t> b(24);
        putHalf(b, 0, 0x3800);
        putHalf(b, 2, 0x4000);
        const uint32_t qh = 0x80000001u;
        std::memcpy(b.data() + 4, &qh, 4);
        for (int j = 0; j < 16; ++j)
            b[8 + j] = uint8_t(j | ((15 - j) << 4));
        const auto y = decode(DType::Q5_1, b);
        QCOMPARE(y[0], 10.0f);  // 16 * 0.5 + 2
        QCOMPARE(y[1], 2.5f);   // 1 * 0.5 + 2
        QCOMPARE(y[16], 9.5f);  // 15 * 0.5 + 2
        QCOMPARE(y[31], 10.0f); // (0 + 16) * 0.5 + 2
    }

    void q8_0() {
        std::vector<uint8_t> b(34);
        putHalf(b, 0, 0x3e00); // 1.5
        for (int j = 0; j < 32; ++j)
            b[2 + j] = uint8_t(int8_t(j * 8 - 128));
        const auto y = decode(DType::Q8_0, b);
        QCOMPARE(y[0], -192.0f);
        QCOMPARE(y[16], 0.0f);
        QCOMPARE(y[31], 180.0f); // 120 * 1.5
    }

    void q2_K() {
        // d = 0.5, dmin = 0.25; scale byte g = (g % 15 + 1) | (g % 3) << 4.
        // Element i: byte (i/128)*32 + i%32 of qs, bits 2*((i%128)/32); group i/16.
        std::vector<uint8_t> b(84);
        for (int g = 0; g < 16; ++g)
            b[g] = uint8_t((g % 15 + 1) | ((g % 3) << 4));
        for (int k = 0; k < 64; ++k)
            b[16 + k] = k % 2 ? 0x1b : 0xe4; // 0xe4: q = 0,1,2,3 by shift; 0x1b: 3,2,1,0
        putHalf(b, 80, 0x3800);
        putHalf(b, 82, 0x3400);
        const auto y = decode(DType::Q2_K, b);
        for (int i = 0; i < 256; ++i) {
            const int byte = (i / 128) * 32 + i % 32, shift = 2 * ((i % 128) / 32), g = i / 16;
            const int q = (b[16 + byte] >> shift) & 3;
            const float expected = 0.5f * float(g % 15 + 1) * float(q) - 0.25f * float(g % 3);
            QCOMPARE(y[i], expected);
        }
        QCOMPARE(y[0], 0.0f);  // group 0: scale 1, min 0, q 0
        QCOMPARE(y[40], 1.0f); // group 2: scale 3, min 2; byte 8 (0xe4) shift 2 -> q 1: 1.5 - 0.5
        QCOMPARE(y[33], 2.5f); // group 2, byte 1 (0x1b) shift 2 -> q 2: 0.5*3*2 - 0.5
    }

    void q3_K() {
        // Scales j (biased by 32): 32 + (j - 8) * 3, i.e. -24..21; d = 0.25.
        std::vector<uint8_t> b(110);
        int biased[16];
        for (int j = 0; j < 16; ++j)
            biased[j] = 32 + (j - 8) * 3;
        for (int k = 0; k < 32; ++k)
            b[k] = uint8_t(0x5a ^ k); // hmask
        for (int k = 0; k < 64; ++k)
            b[32 + k] = uint8_t(k * 37 + 11); // low 2-bit quants
        packQ3Scales(biased, b.data() + 96);
        putHalf(b, 108, 0x3400);
        const auto y = decode(DType::Q3_K, b);
        for (int i = 0; i < 256; ++i) {
            const int half = i / 128, r = i % 128, s = r / 32, within = r % 32;
            const int low = (b[32 + half * 32 + within] >> (2 * s)) & 3;
            const bool high = (b[within] >> (half * 4 + s)) & 1;
            const int q = low - (high ? 0 : 4);
            QCOMPARE(y[i], 0.25f * float(biased[i / 16] - 32) * float(q));
        }
    }

    void q4_K() {
        // d = 0.5, dmin = 0.125; scales 1..8 plus 40 for groups >= 4 (exercise the high bits).
        std::vector<uint8_t> b(144);
        putHalf(b, 0, 0x3800);
        putHalf(b, 2, 0x3000);
        int sc[8], mn[8];
        for (int j = 0; j < 8; ++j) {
            sc[j] = j + 1 + (j >= 4 ? 40 : 0);
            mn[j] = 63 - j * 5;
        }
        packK4Scales(sc, mn, b.data() + 4);
        for (int k = 0; k < 128; ++k)
            b[16 + k] = uint8_t(k * 29 + 3);
        const auto y = decode(DType::Q4_K, b);
        for (int i = 0; i < 256; ++i) {
            const int g = i / 32, byte = (i / 64) * 32 + i % 32;
            const int q = g % 2 == 0 ? (b[16 + byte] & 0xf) : (b[16 + byte] >> 4);
            QCOMPARE(y[i], 0.5f * float(sc[g]) * float(q) - 0.125f * float(mn[g]));
        }
    }

    void q5_K() {
        std::vector<uint8_t> b(176);
        putHalf(b, 0, 0x3400); // 0.25
        putHalf(b, 2, 0x3800); // 0.5
        int sc[8], mn[8];
        for (int j = 0; j < 8; ++j) {
            sc[j] = 63 - j * 7;
            mn[j] = j * 9;
        }
        packK4Scales(sc, mn, b.data() + 4);
        for (int k = 0; k < 32; ++k)
            b[16 + k] = uint8_t(k * 53 + 7); // qh: bit g of byte i%32 is element i's fifth bit
        for (int k = 0; k < 128; ++k)
            b[48 + k] = uint8_t(k * 29 + 3);
        const auto y = decode(DType::Q5_K, b);
        for (int i = 0; i < 256; ++i) {
            const int g = i / 32, byte = (i / 64) * 32 + i % 32;
            const int low = g % 2 == 0 ? (b[48 + byte] & 0xf) : (b[48 + byte] >> 4);
            const int q = low + (((b[16 + i % 32] >> g) & 1) ? 16 : 0);
            QCOMPARE(y[i], 0.25f * float(sc[g]) * float(q) - 0.5f * float(mn[g]));
        }
    }

    void q6_K() {
        // Element i: half h = i/128, quarter s = (i%128)/32, l = i%32. Low 4 bits in ql byte
        // h*64 + l + 32*(s%2) (low nibble for s < 2, high otherwise); high 2 bits in qh byte h*32 + l at
        // bits 2*s; scale i/16 (int8); value = d * scale * (q - 32).
        std::vector<uint8_t> b(210);
        for (int k = 0; k < 128; ++k)
            b[k] = uint8_t(k * 23 + 5);
        for (int k = 0; k < 64; ++k)
            b[128 + k] = uint8_t(k * 41 + 9);
        for (int k = 0; k < 16; ++k)
            b[192 + k] = uint8_t(int8_t(k * 9 - 70));
        putHalf(b, 208, 0x3400); // 0.25
        const auto y = decode(DType::Q6_K, b);
        for (int i = 0; i < 256; ++i) {
            const int h = i / 128, s = (i % 128) / 32, l = i % 32;
            const uint8_t lowByte = b[h * 64 + l + 32 * (s % 2)];
            const int low = s < 2 ? (lowByte & 0xf) : (lowByte >> 4);
            const int high = (b[128 + h * 32 + l] >> (2 * s)) & 3;
            const int scale = int8_t(b[192 + i / 16]);
            QCOMPARE(y[i], 0.25f * float(scale) * float((low | (high << 4)) - 32));
        }
    }

    void q8_K() {
        std::vector<uint8_t> b(292);
        const float d = 0.375f;
        std::memcpy(b.data(), &d, 4);
        for (int k = 0; k < 256; ++k)
            b[4 + k] = uint8_t(int8_t(k - 128));
        const auto y = decode(DType::Q8_K, b);
        QCOMPARE(y[0], -48.0f);
        QCOMPARE(y[128], 0.0f);
        QCOMPARE(y[255], 47.625f);
    }

    // LQ3_64: codes written as bytes by hand. The octal number 76543210 is codes 0..7 of three bytes
    // (0x88, 0xc6, 0xfa little-endian); codes 2 and 5 of each such group straddle a byte boundary.
    void lq3_64() {
        QCOMPARE(dtypeInfo(DType::LQ3_64).blockSize, 64u);
        QCOMPARE(dtypeInfo(DType::LQ3_64).blockBytes, 28u);
        QVERIFY(dtypeInfoFor(1000).has_value() && dtypeInfoFor(1000)->type == DType::LQ3_64);
        QCOMPARE(dtypeFromName("LQ3_64"), std::optional<DType>(DType::LQ3_64));
        QCOMPARE(dtypeName(DType::LQ3_64), std::string_view("lq3_64"));

        std::vector<uint8_t> b(28 * 2, 0);
        putHalf(b, 0, 0x3800); // d = 0.5
        putHalf(b, 2, 0xbc00); // m = -1
        for (int g = 0; g < 8; ++g) {
            b[4 + 3 * g] = 0x88;
            b[5 + 3 * g] = 0xc6;
            b[6 + 3 * g] = 0xfa;
        }
        // Second block: d = 2, m = 0.25; only elements 2 (code 7: bits 6..8, bytes 0 and 1), 61 (code 3:
        // bits 183..185, byte 22 bit 7 and byte 23 bits 0..1) and 63 (code 5: bits 189..191, byte 23).
        putHalf(b, 28, 0x4000);
        putHalf(b, 30, 0x3400);
        b[32 + 0] = 0xc0;
        b[32 + 1] = 0x01;
        b[32 + 22] = 0x80;
        b[32 + 23] = 0xa1; // 5 << 5 | 3 >> 1
        const auto y = decode(DType::LQ3_64, b);
        for (int j = 0; j < 64; ++j)
            QCOMPARE(y[size_t(j)], float(j % 8) * 0.5f - 1.0f);
        for (int j = 0; j < 64; ++j) {
            const float code = j == 2 ? 7.0f : j == 61 ? 3.0f : j == 63 ? 5.0f : 0.0f;
            QCOMPARE(y[size_t(64 + j)], code * 2.0f + 0.25f);
        }
    }

    void lq3_64Quantizer() {
        // x = (j % 8) / 2 - 1: min -1, max 2.5, d = 3.5 / 7 = 0.5 and m = -1 exactly; codes j % 8.
        std::vector<float> x(64);
        for (int j = 0; j < 64; ++j)
            x[size_t(j)] = float(j % 8) * 0.5f - 1.0f;
        auto q = test::quantized(DType::LQ3_64, x);
        QCOMPARE(q.size(), size_t(28));
        uint16_t d, m;
        std::memcpy(&d, q.data(), 2);
        std::memcpy(&m, q.data() + 2, 2);
        QCOMPARE(d, uint16_t(0x3800));
        QCOMPARE(m, uint16_t(0xbc00));
        for (int g = 0; g < 8; ++g) {
            QCOMPARE(q[size_t(4 + 3 * g)], uint8_t(0x88));
            QCOMPARE(q[size_t(5 + 3 * g)], uint8_t(0xc6));
            QCOMPARE(q[size_t(6 + 3 * g)], uint8_t(0xfa));
        }

        // min 0, max 7: d = 1, m = 0. 2.5 rounds half away from zero to 3, 2.49 to 2, 6.51 to 7.
        std::fill(x.begin(), x.end(), 0.0f);
        x[1] = 7.0f;
        x[2] = 2.5f;
        x[3] = 2.49f;
        x[5] = 6.51f;
        q = test::quantized(DType::LQ3_64, x);
        std::memcpy(&d, q.data(), 2);
        QCOMPARE(d, uint16_t(0x3c00));
        // Codes 0, 7, 3, 2, 0, 7, 0, 0 at bits 0, 3, 6, 9, 12, 15, ...: byte 0 = 7 << 3 | 3 << 6 = 0xf8
        // (code 3's top bit, bit 8, is 0); byte 1 = 2 << 1 | (7 & 1) << 7 = 0x84; byte 2 = 7 >> 1 = 0x03.
        QCOMPARE(q[4], uint8_t(0xf8));
        QCOMPARE(q[5], uint8_t(0x84));
        QCOMPARE(q[6], uint8_t(0x03));
        const auto y = decode(DType::LQ3_64, q);
        QCOMPARE(y[2], 3.0f);
        QCOMPARE(y[3], 2.0f);
        QCOMPARE(y[5], 7.0f);

        // A constant block: d = 0, every code 0, x = m.
        std::fill(x.begin(), x.end(), -0.75f);
        q = test::quantized(DType::LQ3_64, x);
        std::memcpy(&d, q.data(), 2);
        QCOMPARE(d, uint16_t(0));
        for (float v : decode(DType::LQ3_64, q))
            QCOMPARE(v, -0.75f);
    }

    // Random rows: every decoded value is c * d + m for the code the rule picks with the stored
    // (fp16) d and m, and within half a step (plus m's fp16 rounding) of the input.
    void lq3_64RoundTrip() {
        const auto x = test::randomFloats(64 * 6, 11, 2.0f);
        const auto bytes = test::quantized(DType::LQ3_64, x);
        std::vector<float> y(x.size());
        dequantizeRow(DType::LQ3_64, bytes.data(), y.data(), int64_t(x.size()));
        for (size_t block = 0; block < x.size() / 64; ++block) {
            uint16_t dh, mh;
            std::memcpy(&dh, bytes.data() + block * 28, 2);
            std::memcpy(&mh, bytes.data() + block * 28 + 2, 2);
            const float d = fp16ToFloat(dh), m = fp16ToFloat(mh);
            float lo = x[block * 64], hi = lo;
            for (size_t j = block * 64; j < block * 64 + 64; ++j) {
                lo = std::min(lo, x[j]);
                hi = std::max(hi, x[j]);
            }
            QCOMPARE(dh, floatToFp16((hi - lo) / 7));
            QCOMPARE(mh, floatToFp16(lo));
            for (size_t j = block * 64; j < block * 64 + 64; ++j) {
                const float code = std::clamp(std::round((x[j] - m) / d), 0.0f, 7.0f);
                QCOMPARE(y[j], code * d + m);
                QVERIFY(std::fabs(y[j] - x[j]) <= 0.5f * d * 1.001f + std::fabs(m - lo) + 1e-6f);
            }
        }
    }

    void quantizeHandComputedBlocks() {
        std::vector<float> x(32);
        for (int j = 0; j < 32; ++j)
            x[j] = float(j - 16);

        // Q5_0: max |x| is x[0] = -16, so d = -16 / -16 = 1 and q = x + 16 = j exactly.
        auto q5 = test::quantized(DType::Q5_0, x);
        uint16_t d;
        std::memcpy(&d, q5.data(), 2);
        QCOMPARE(d, uint16_t(0x3c00));
        uint32_t qh;
        std::memcpy(&qh, q5.data() + 2, 4);
        QCOMPARE(qh, 0xffff0000u); // elements 16..31 have q >= 16
        for (int j = 0; j < 16; ++j)
            QCOMPARE(q5[6 + j], uint8_t(j | (j << 4)));

        // Q5_1: min -16, max 15, d = 31/31 = 1, m = -16: q = j again.
        auto q51 = test::quantized(DType::Q5_1, x);
        uint16_t m;
        std::memcpy(&d, q51.data(), 2);
        std::memcpy(&m, q51.data() + 2, 2);
        QCOMPARE(d, uint16_t(0x3c00));
        QCOMPARE(m, uint16_t(0xcc00));
        std::memcpy(&qh, q51.data() + 4, 4);
        QCOMPARE(qh, 0xffff0000u);

        // Q4_0: d = -16 / -8 = 2, q = min(15, trunc(x/2 + 8.5)): x=-16 -> 0, x=0 -> 8, x=-1 -> 8, x=15 -> 15.
        auto q4 = test::quantized(DType::Q4_0, x);
        std::memcpy(&d, q4.data(), 2);
        QCOMPARE(d, uint16_t(0x4000));
        QCOMPARE(q4[2 + 0], uint8_t(0x80));  // element 0 -> 0, element 16 (x=0) -> 8
        QCOMPARE(q4[2 + 15], uint8_t(0xf8)); // element 15 (x=-1) -> 8, element 31 (x=15) -> 15
        QCOMPARE(q4[2 + 1], uint8_t(0x91));  // element 1 (x=-15): trunc(-7.5 + 8.5) = 1; element 17 (x=1): 9

        // Q8_0: d = 16/127, q = round(x * 127/16): x=-16 -> -127, x=1 -> 8, x=15 -> 119.
        auto q8 = test::quantized(DType::Q8_0, x);
        QCOMPARE(int8_t(q8[2 + 0]), int8_t(-127));
        QCOMPARE(int8_t(q8[2 + 17]), int8_t(8));
        QCOMPARE(int8_t(q8[2 + 31]), int8_t(119));
        std::memcpy(&d, q8.data(), 2);
        QCOMPARE(d, floatToFp16(16.0f / 127.0f));

        // Q4_1: min -16, max 15, d = 31/15, m = -16.
        auto q41 = test::quantized(DType::Q4_1, x);
        std::memcpy(&d, q41.data(), 2);
        std::memcpy(&m, q41.data() + 2, 2);
        QCOMPARE(d, floatToFp16(31.0f / 15.0f));
        QCOMPARE(m, uint16_t(0xcc00));
        QCOMPARE(q41[4 + 0] & 0xf, 0);  // x=-16 -> 0
        QCOMPARE(q41[4 + 15] >> 4, 15); // x=15 -> 15
    }

    void roundTripErrorBounds_data() {
        QTest::addColumn<int>("type");
        for (DType t :
             {DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1})
            QTest::newRow(std::string(dtypeName(t)).c_str()) << int(t);
    }

    void roundTripErrorBounds() {
        QFETCH(int, type);
        const DType t = DType(type);
        const auto x = test::randomFloats(32 * 64, 7, 2.0f);
        const auto bytes = test::quantized(t, x);
        std::vector<float> y(x.size());
        dequantizeRow(t, bytes.data(), y.data(), int64_t(x.size()));
        for (size_t block = 0; block < x.size() / 32; ++block) {
            float lo = x[block * 32], hi = lo, amax = 0;
            for (size_t j = block * 32; j < block * 32 + 32; ++j) {
                lo = std::min(lo, x[j]);
                hi = std::max(hi, x[j]);
                amax = std::max(amax, std::fabs(x[j]));
            }
            for (size_t j = block * 32; j < block * 32 + 32; ++j) {
                float bound = 0;
                switch (t) {
                case DType::F16:
                    bound = std::fabs(x[j]) * 0x1p-11f;
                    break;
                case DType::BF16:
                    bound = std::fabs(x[j]) * 0x1p-8f;
                    break;
                case DType::Q8_0:
                    bound = amax / 127 * 0.5f + amax * 0x1p-11f;
                    break; // + fp16 rounding of d
                case DType::Q4_0:
                    bound = amax / 8 * 1.01f;
                    break; // one step where +amax clamps to 7
                case DType::Q5_0:
                    bound = amax / 16 * 1.01f;
                    break;
                case DType::Q4_1:
                    bound = (hi - lo) / 15 * 0.5f * 1.01f + std::fabs(lo) * 0x1p-10f;
                    break;
                case DType::Q5_1:
                    bound = (hi - lo) / 31 * 0.5f * 1.01f + std::fabs(lo) * 0x1p-10f;
                    break;
                default:
                    break;
                }
                if (std::fabs(y[j] - x[j]) > bound + 1e-7f)
                    QFAIL(qPrintable(
                        QString("element %1: %2 -> %3 (bound %4)").arg(j).arg(x[j]).arg(y[j]).arg(bound)));
            }
        }
    }

    void badArguments() {
        float out[32];
        const uint8_t in[34] = {};
        QVERIFY_THROWS_EXCEPTION(Error, dequantizeRow(DType::Q8_0, in, out, 31));
        QVERIFY_THROWS_EXCEPTION(Error, dequantizeRow(DType::I32, in, out, 4));
        QVERIFY_THROWS_EXCEPTION(Error, quantizeRow(DType::Q4_K, out, nullptr, 256));
        QVERIFY(canDequantize(DType::Q6_K) && !canQuantize(DType::Q6_K));
    }
};

QTEST_APPLESS_MAIN(TestQuants)
#include "TestQuants.moc"
