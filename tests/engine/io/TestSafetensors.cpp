// SafetensorsFile against files made by a minimal writer in the test, plus hostile headers.

#include "IoTestFiles.h"
#include "TestSupport.h"
#include "core/Error.h"
#include "core/Half.h"
#include "io/SafetensorsFile.h"

#include <QtTest>
#include <cstring>

using namespace lathe;
using test::Bytes;
using test::SafetensorsBuilder;

namespace {

// Safetensors data has no alignment guarantee (the header length is arbitrary): read with memcpy.
float floatAt(const uint8_t* data, size_t index) {
    float v;
    std::memcpy(&v, data + 4 * index, 4);
    return v;
}

std::string parseError(const std::vector<uint8_t>& bytes) {
    try {
        (void)SafetensorsFile::fromBytes(bytes, "bad.safetensors");
    } catch (const Error& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("WRONG EXCEPTION TYPE: ") + e.what();
    }
    return "NO ERROR";
}

#define EXPECT_REFUSED(bytes, needle)                                                                        \
    do {                                                                                                     \
        const std::string message = parseError(bytes);                                                       \
        if (message.find(needle) == std::string::npos)                                                       \
            QFAIL(qPrintable(                                                                                \
                QString("expected an error containing '%1', got: %2").arg(needle).arg(message.c_str())));    \
    } while (0)

// A header whose single tensor "t" has the given JSON fields, followed by `dataBytes` zero bytes.
std::vector<uint8_t> withHeader(const std::string& json, size_t dataBytes) {
    Bytes b;
    b.u64(json.size()).raw(json).zeros(dataBytes);
    return b.data;
}

} // namespace

class TestSafetensors : public QObject {
    Q_OBJECT
private slots:
    void roundTrip() {
        SafetensorsBuilder st;
        st.addF32("model.norm.weight", {3}, {1.0f, 2.0f, -3.0f});
        st.addF32("matrix", {2, 3}, {1, 2, 3, 4, 5, 6});
        std::vector<uint8_t> f16(8);
        const uint16_t halves[4] = {0x3c00, 0xc000, 0x3800, 0x0000};
        std::memcpy(f16.data(), halves, 8);
        st.add("half", "F16", {2, 1, 2}, f16);
        std::vector<uint8_t> bf16(4);
        const uint16_t bhalves[2] = {0x3f80, 0xc040};
        std::memcpy(bf16.data(), bhalves, 4);
        st.add("brain", "BF16", {2}, bf16);
        st.header["__metadata__"] = {{"format", "pt"}};
        const auto bytes = st.build();

        const SafetensorsFile f = SafetensorsFile::fromBytes(bytes, "x.safetensors");
        QCOMPARE(f.tensors().size(), size_t(4));
        const TensorView* m = f.findTensor("matrix");
        QVERIFY(m);
        QCOMPARE(m->dtype, DType::F32);
        QCOMPARE(m->nDims, 2);
        QCOMPARE(m->shape, (std::array<int64_t, 4>{3, 2, 1, 1})); // ggml order: innermost first
        QCOMPARE(m->nbytes, uint64_t(24));
        QCOMPARE(floatAt(m->row(1), 0), 4.0f);
        const TensorView* h = f.findTensor("half");
        QCOMPARE(h->dtype, DType::F16);
        QCOMPARE(h->shape, (std::array<int64_t, 4>{2, 1, 2, 1}));
        uint16_t second;
        std::memcpy(&second, h->data + 2, 2);
        QCOMPARE(fp16ToFloat(second), -2.0f);
        QCOMPARE(f.findTensor("brain")->dtype, DType::BF16);
        QVERIFY(f.findTensor("__metadata__") == nullptr);
        QCOMPARE(floatAt(f.findTensor("model.norm.weight")->data, 2), -3.0f);
    }

    void opensFromDisk() {
        test::TempDir dir;
        SafetensorsBuilder st;
        st.addF32("w", {4}, {1, 2, 3, 4});
        const auto bytes = st.build();
        test::writeFileBytes(dir.file("m.safetensors"), std::string(bytes.begin(), bytes.end()));
        const SafetensorsFile f = SafetensorsFile::open(dir.file("m.safetensors"));
        QCOMPARE(floatAt(f.findTensor("w")->data, 3), 4.0f);
        QVERIFY(f.mapping());
        QVERIFY_THROWS_EXCEPTION(Error, SafetensorsFile::open(dir.file("missing.safetensors")));
    }

    void hostileHeaders() {
        EXPECT_REFUSED(std::vector<uint8_t>(5, 0), "too short");
        Bytes huge;
        huge.u64(kSafetensorsMaxHeaderBytes + 1).raw("{}");
        EXPECT_REFUSED(huge.data, "exceeds");
        Bytes past;
        past.u64(1000).raw("{}");
        EXPECT_REFUSED(past.data, "past the end of the file");
        Bytes max;
        max.u64(~0ull).raw("{}");
        EXPECT_REFUSED(max.data, "exceeds");
        EXPECT_REFUSED(withHeader("{\"t\": ", 0), "malformed");
        EXPECT_REFUSED(withHeader("[1, 2]", 0), "not an object");
        EXPECT_REFUSED(withHeader(R"({"t": 5})", 0), "'t' is not a JSON object");
        EXPECT_REFUSED(withHeader(R"({"t": {"shape": [1], "data_offsets": [0, 4]}})", 4),
                       "no string 'dtype'");
        EXPECT_REFUSED(withHeader(R"({"t": {"dtype": "F32", "data_offsets": [0, 4]}})", 4),
                       "no array 'shape'");
        EXPECT_REFUSED(withHeader(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4),
                       "data_offsets");
        EXPECT_REFUSED(withHeader(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 4),
                       "data_offsets");
    }

    void unsupportedDtypeNamesTheTensor() {
        const auto bytes =
            withHeader(R"({"layer.weight": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}})", 8);
        try {
            (void)SafetensorsFile::fromBytes(bytes, "u.safetensors");
            QFAIL("expected an error");
        } catch (const Error& e) {
            QCOMPARE(e.category(), ErrorCategory::Unsupported);
            QVERIFY(std::string(e.what()).find("'layer.weight'") != std::string::npos);
            QVERIFY(std::string(e.what()).find("I64") != std::string::npos);
        }
    }

    void hostileShapesAndOffsets() {
        EXPECT_REFUSED(withHeader(R"({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4),
                       "dimension 0");
        EXPECT_REFUSED(withHeader(R"({"t": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}})", 0),
                       "dimension 0");
        EXPECT_REFUSED(
            withHeader(R"({"t": {"dtype": "F32", "shape": [1,1,1,1,1], "data_offsets": [0, 4]}})", 4),
            "5 dimensions");
        EXPECT_REFUSED(
            withHeader(
                R"({"t": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})", 4),
            "overflows");
        EXPECT_REFUSED(withHeader(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", 8),
                       "hold 4 bytes");
        EXPECT_REFUSED(withHeader(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 8),
                       "hold 0 bytes");
        EXPECT_REFUSED(withHeader(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 2),
                       "past the end of the data");
        EXPECT_REFUSED(withHeader(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 8),
                       "tensors cover 4 bytes but the data section holds 8");
        EXPECT_REFUSED(withHeader(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                      "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                                  8),
                       "must not overlap");
        EXPECT_REFUSED(withHeader(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                      "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
                                  12),
                       "contiguous");
        EXPECT_REFUSED(withHeader(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8),
                       "starts at 4");
    }

    void truncationsAndFlipsNeverCrash() {
        SafetensorsBuilder st;
        st.addF32("a", {2, 2}, {1, 2, 3, 4});
        st.addF32("b", {3}, {5, 6, 7});
        const auto valid = st.build();
        for (size_t n = 0; n < valid.size(); ++n) {
            const std::string message =
                parseError(std::vector<uint8_t>(valid.begin(), valid.begin() + long(n)));
            if (message == "NO ERROR" || message.rfind("WRONG", 0) == 0)
                QFAIL(qPrintable(QString("prefix %1: %2").arg(n).arg(message.c_str())));
        }
        std::mt19937 rng(99);
        for (int round = 0; round < 3000; ++round) {
            auto bytes = valid;
            bytes[rng() % bytes.size()] = uint8_t(rng());
            const std::string message = parseError(bytes);
            if (message.rfind("WRONG", 0) == 0) QFAIL(message.c_str());
        }
    }

    void indexFile() {
        const auto map = parseSafetensorsIndex(
            R"({"metadata": {"total_size": 8}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                "b": "model-00002-of-00002.safetensors"}})",
            "index.json");
        QCOMPARE(map.size(), size_t(2));
        QCOMPARE(map.at("b"), std::string("model-00002-of-00002.safetensors"));
        QVERIFY_THROWS_EXCEPTION(Error,
                                 parseSafetensorsIndex(R"({"weight_map": {"a": "../etc/passwd"}})", "i"));
        QVERIFY_THROWS_EXCEPTION(Error, parseSafetensorsIndex(R"({"weight_map": {"a": 3}})", "i"));
        QVERIFY_THROWS_EXCEPTION(Error, parseSafetensorsIndex(R"({"other": {}})", "i"));
        QVERIFY_THROWS_EXCEPTION(Error, parseSafetensorsIndex("not json", "i"));
    }
};

QTEST_APPLESS_MAIN(TestSafetensors)
#include "TestSafetensors.moc"
