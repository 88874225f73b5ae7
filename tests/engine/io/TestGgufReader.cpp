// GgufFile against files made by GgufWriter (every metadata type, every tensor type, alignment,
// atomic writes), a hand-assembled v2 file, and the real default model when it is installed.

#include "IoTestFiles.h"
#include "TestSupport.h"
#include "core/Error.h"
#include "io/GgufReader.h"
#include "io/GgufWriter.h"
#include "io/MappedFile.h"
#include "io/ModelLoader.h"

#include <QtTest>
#include <csignal>
#include <cstring>
#include <sys/resource.h>

using namespace lathe;

namespace {

GgufWriter everyKindWriter() {
    GgufWriter w;
    w.set("u8", {uint8_t(200)});
    w.set("i8", {int8_t(-100)});
    w.set("u16", {uint16_t(60000)});
    w.set("i16", {int16_t(-30000)});
    w.setU32("u32", 4000000000u);
    w.setI32("i32", -2000000000);
    w.setF32("f32", 0.15625f);
    w.setBool("bool", true);
    w.setString("string", "héllo\0world");
    w.setU64("u64", 1ull << 40);
    w.set("i64", {int64_t(-(1ll << 40))});
    w.set("f64", {2.5e-300});
    w.set("small_u64", {uint64_t(77)});
    w.set("arr.u8", {GgufArray(std::vector<uint8_t>{1, 2, 255})});
    w.set("arr.i8", {GgufArray(std::vector<int8_t>{-1, 2})});
    w.set("arr.u16", {GgufArray(std::vector<uint16_t>{65535})});
    w.set("arr.i16", {GgufArray(std::vector<int16_t>{-5, 5})});
    w.set("arr.u32", {GgufArray(std::vector<uint32_t>{7, 8, 9})});
    w.setI32Array("arr.i32", {-1, 0, 1});
    w.setF32Array("arr.f32", {0.5f, -1.25f});
    w.set("arr.bool", {GgufArray(std::vector<bool>{true, false, true})});
    w.setStringArray("arr.string", {"a", "", "ccc"});
    w.set("arr.u64", {GgufArray(std::vector<uint64_t>{1ull << 63})});
    w.set("arr.i64", {GgufArray(std::vector<int64_t>{-3})});
    w.set("arr.f64", {GgufArray(std::vector<double>{0.25})});
    w.setStringArray("arr.empty", {});
    return w;
}

std::vector<uint8_t> patternBytes(size_t n, uint8_t seed) {
    std::vector<uint8_t> out(n);
    for (size_t i = 0; i < n; ++i)
        out[i] = uint8_t(i * 31 + seed);
    return out;
}

} // namespace

class TestGgufReader : public QObject {
    Q_OBJECT
private slots:
    void everyMetadataTypeRoundTrips() {
        const auto bytes = everyKindWriter().writeToBytes();
        const GgufFile f = GgufFile::fromBytes(bytes, "kinds.gguf");
        QCOMPARE(f.version(), 3u);
        QCOMPARE(f.metadata().size(), size_t(26));
        QCOMPARE(f.metadata()[0].first, std::string("u8")); // file order kept
        QCOMPARE(std::get<uint8_t>(f.find("u8")->value), uint8_t(200));
        QCOMPARE(std::get<int8_t>(f.find("i8")->value), int8_t(-100));
        QCOMPARE(std::get<uint16_t>(f.find("u16")->value), uint16_t(60000));
        QCOMPARE(std::get<int16_t>(f.find("i16")->value), int16_t(-30000));
        QCOMPARE(*f.getU32("u32"), 4000000000u);
        QCOMPARE(*f.getI32("i32"), -2000000000);
        QCOMPARE(*f.getF32("f32"), 0.15625f);
        QCOMPARE(*f.getBool("bool"), true);
        QCOMPARE(*f.getString("string"), std::string("héllo"));
        QCOMPARE(*f.getU64("u64"), 1ull << 40);
        QCOMPARE(std::get<int64_t>(f.find("i64")->value), -(1ll << 40));
        QCOMPARE(std::get<double>(f.find("f64")->value), 2.5e-300);
        QCOMPARE(f.find("arr.u8")->typeName(), std::string("array[u8]"));
        QCOMPARE(std::get<std::vector<uint8_t>>(std::get<GgufArray>(f.find("arr.u8")->value)),
                 (std::vector<uint8_t>{1, 2, 255}));
        QCOMPARE(std::get<std::vector<bool>>(std::get<GgufArray>(f.find("arr.bool")->value)),
                 (std::vector<bool>{true, false, true}));
        QCOMPARE(std::get<std::vector<uint64_t>>(std::get<GgufArray>(f.find("arr.u64")->value)),
                 (std::vector<uint64_t>{1ull << 63}));
        QCOMPARE(std::get<std::vector<double>>(std::get<GgufArray>(f.find("arr.f64")->value)),
                 (std::vector<double>{0.25}));
        QCOMPARE(*f.getI32Array("arr.i32"), (std::vector<int32_t>{-1, 0, 1}));
        QCOMPARE(*f.getI32Array("arr.u32"), (std::vector<int32_t>{7, 8, 9})); // integers that fit
        QCOMPARE(*f.getF32Array("arr.f32"), (std::vector<float>{0.5f, -1.25f}));
        QCOMPARE(*f.getF32Array("arr.f64"), (std::vector<float>{0.25f}));
        QCOMPARE(*f.getStringArray("arr.string"), (std::vector<std::string>{"a", "", "ccc"}));
        QVERIFY(f.getStringArray("arr.empty")->empty());
        QVERIFY(!f.getU32("missing").has_value());
    }

    void accessorsConvertOnlyWhatFits() {
        const auto bytes = everyKindWriter().writeToBytes();
        const GgufFile f = GgufFile::fromBytes(bytes, "kinds.gguf");
        QCOMPARE(*f.getU32("u8"), 200u);
        QCOMPARE(*f.getU32("small_u64"), 77u);
        QCOMPARE(*f.getI32("i16"), -30000);
        QCOMPARE(*f.getF32("f64"), 0.0f);                 // 2.5e-300 underflows float
        QVERIFY_THROWS_EXCEPTION(Error, f.getU32("i8"));  // negative
        QVERIFY_THROWS_EXCEPTION(Error, f.getU32("u64")); // 2^40 does not fit
        QVERIFY_THROWS_EXCEPTION(Error, f.getI32("u32")); // 4e9 does not fit
        QVERIFY_THROWS_EXCEPTION(Error, f.getU32("string"));
        QVERIFY_THROWS_EXCEPTION(Error, f.getString("u32"));
        QVERIFY_THROWS_EXCEPTION(Error, f.getBool("u8"));
        QVERIFY_THROWS_EXCEPTION(Error, f.getStringArray("arr.i32"));
        QVERIFY_THROWS_EXCEPTION(Error, f.getI32Array("arr.u64")); // 2^63 does not fit
        QVERIFY_THROWS_EXCEPTION(Error, f.getI32Array("arr.f32"));
        QVERIFY_THROWS_EXCEPTION(Error, f.getF32Array("arr.string"));
        try {
            (void)f.getString("u32");
        } catch (const Error& e) {
            QVERIFY(std::string(e.what()).find("'u32'") != std::string::npos);
        }
    }

    void everyTensorTypeRoundTrips() {
        GgufWriter w;
        std::vector<std::vector<uint8_t>> contents;
        std::vector<DType> types = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                                    DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                                    DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K};
        for (size_t i = 0; i < types.size(); ++i) {
            const auto& info = dtypeInfo(types[i]);
            const std::vector<int64_t> shape = {int64_t(info.blockSize) * 2, 3};
            contents.push_back(patternBytes(rowBytes(types[i], uint64_t(shape[0])) * 3, uint8_t(i)));
            w.addTensor("t." + std::string(info.name), types[i], shape, contents.back());
        }
        w.addTensor("t.4d", DType::F32, {1, 2, 3, 4}, patternBytes(4 * 24, 99));
        const auto bytes = w.writeToBytes();
        const GgufFile f = GgufFile::fromBytes(bytes, "types.gguf");
        QCOMPARE(f.tensors().size(), types.size() + 1);
        for (size_t i = 0; i < types.size(); ++i) {
            const TensorView& t = f.tensors()[i];
            QCOMPARE(t.dtype, types[i]);
            QCOMPARE(t.nDims, 2);
            QCOMPARE(t.shape[0], int64_t(dtypeInfo(types[i]).blockSize) * 2);
            QCOMPARE(t.shape[1], int64_t(3));
            QCOMPARE(t.nbytes, uint64_t(contents[i].size()));
            QVERIFY(std::memcmp(t.data, contents[i].data(), contents[i].size()) == 0);
            QCOMPARE(uint64_t(t.data - bytes.data()) % 32, uint64_t(0));
        }
        const TensorView* t4 = f.findTensor("t.4d");
        QVERIFY(t4);
        QCOMPARE(t4->nDims, 4);
        QCOMPARE(t4->shape, (std::array<int64_t, 4>{1, 2, 3, 4}));
        QCOMPARE(t4->elementCount(), int64_t(24));
    }

    void alignmentKeyIsHonoured() {
        GgufWriter w;
        w.setU32("general.alignment", 256);
        w.addTensor("a", DType::F32, {3}, patternBytes(12, 1));
        w.addTensor("b", DType::F32, {5}, patternBytes(20, 2));
        const auto bytes = w.writeToBytes();
        const GgufFile f = GgufFile::fromBytes(bytes);
        QCOMPARE(f.alignment(), 256u);
        QCOMPARE(f.dataOffset() % 256, uint64_t(0));
        QCOMPARE(uint64_t(f.findTensor("b")->data - f.findTensor("a")->data), uint64_t(256));
        QVERIFY_THROWS_EXCEPTION(Error, w.setU32("general.alignment", 48));
    }

    void handAssembledVersion2() {
        // v2 has the same layout as v3: magic, version, counts, one kv, one F32 tensor {2}.
        test::Bytes b;
        b.raw("GGUF").u32(2).u64(1).u64(1);
        b.str("general.architecture").u32(8).str("llama");
        b.str("w").u32(1).u64(2).u32(0).u64(0);
        b.padTo(32);
        b.put(1.5f).put(-2.0f);
        const GgufFile f = GgufFile::fromBytes(b.data);
        QCOMPARE(f.version(), 2u);
        QCOMPARE(*f.getString("general.architecture"), std::string("llama"));
        const float* w = reinterpret_cast<const float*>(f.findTensor("w")->data);
        QCOMPARE(w[0], 1.5f);
        QCOMPARE(w[1], -2.0f);
    }

    void fileWriteIsAtomicAndReadable() {
        test::TempDir dir;
        const auto path = dir.file("kinds.gguf");
        GgufWriter w = everyKindWriter();
        w.addTensor("x", DType::F16, {4}, patternBytes(8, 5));
        w.writeFile(path);
        QCOMPARE(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1L); // no temp file left
        const GgufFile f = GgufFile::open(path);
        QCOMPARE(f.name(), path.string());
        QCOMPARE(*f.getU32("u32"), 4000000000u);
        QCOMPARE(f.findTensor("x")->nbytes, uint64_t(8));
        QVERIFY(f.mapping() != nullptr);
        const auto expected = w.writeToBytes();
        QCOMPARE(test::readFileText(path).size(), expected.size());

        // Writing into a missing folder fails with Io and leaves nothing behind.
        try {
            w.writeFile(dir.path() / "no-such-folder" / "x.gguf");
            QFAIL("expected an error");
        } catch (const Error& e) {
            QCOMPARE(e.category(), ErrorCategory::Io);
        }
    }

    void failedWriteLeavesNothingBehind() {
        // A file-size limit makes write() fail part-way, as a full disk does: the error is Io, and
        // neither the target nor the temporary file remains.
        test::TempDir dir;
        struct rlimit old {};
        QVERIFY(getrlimit(RLIMIT_FSIZE, &old) == 0);
        std::signal(SIGXFSZ, SIG_IGN);
        struct rlimit small = old;
        small.rlim_cur = 4096;
        QVERIFY(setrlimit(RLIMIT_FSIZE, &small) == 0);
        GgufWriter w;
        w.addTensor("big", DType::F32, {65536}, patternBytes(65536 * 4, 3));
        bool threwIo = false;
        try {
            w.writeFile(dir.file("big.gguf"));
        } catch (const Error& e) {
            threwIo = e.category() == ErrorCategory::Io;
        }
        setrlimit(RLIMIT_FSIZE, &old);
        QVERIFY(threwIo);
        QCOMPARE(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 0L);
    }

    void realModelRewritesByteForByte() {
        // llama.cpp wrote this file; copying every key and tensor through GgufWriter must give the
        // same bytes (same layout, alignment and padding rules).
        const auto path = test::defaultModelPath();
        if (!path) QSKIP(test::kNoDefaultModel);
        const GgufFile f = GgufFile::open(*path);
        GgufWriter w;
        for (const auto& [key, value] : f.metadata())
            w.set(key, value);
        for (const TensorView& t : f.tensors())
            w.addTensorView(t.name, t.dtype, std::vector<int64_t>(t.shape.begin(), t.shape.begin() + t.nDims),
                            {t.data, t.nbytes});
        const auto bytes = w.writeToBytes();
        QCOMPARE(uint64_t(bytes.size()), f.fileSize());
        QVERIFY(std::memcmp(bytes.data(), f.mapping()->data(), bytes.size()) == 0);
    }

    void realModelOpensWithExpectedConfig() {
        const auto path = test::defaultModelPath();
        if (!path) QSKIP(test::kNoDefaultModel);
        const GgufFile f = GgufFile::open(*path);
        QCOMPARE(*f.getString("general.architecture"), std::string("llama"));
        QCOMPARE(*f.getString("tokenizer.ggml.model"), std::string("gpt2"));
        const ModelConfig c = modelConfigFromGguf(f);
        QCOMPARE(c.nLayers, 30);
        QCOMPARE(c.nEmbd, 576);
        QCOMPARE(c.nHeads, 9);
        QCOMPARE(c.nHeadsKv, 3);
        QCOMPARE(c.headDim, 64);
        QCOMPARE(c.nFf, 1536);
        QCOMPARE(c.vocabSize, 49152);
        QCOMPARE(c.ropeFreqBase, 100000.0f);
        QVERIFY(c.tiedEmbeddings);
        QCOMPARE(f.findTensor("token_embd.weight")->dtype, DType::Q8_0);
        QCOMPARE(f.findTensor("blk.0.attn_q.weight")->dtype, DType::Q4_1);
        QCOMPARE(f.findTensor("blk.0.attn_norm.weight")->dtype, DType::F32);
        QCOMPARE(f.findTensor("blk.0.attn_k.weight")->shape[1], int64_t(192));
    }
};

QTEST_APPLESS_MAIN(TestGgufReader)
#include "TestGgufReader.moc"
