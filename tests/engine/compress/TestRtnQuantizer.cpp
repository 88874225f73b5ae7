// quantizeRtn on a small synthetic F16 model: the output is a GGUF that Lathe's loader accepts with
// every metadata key kept and general.file_type updated; matrices are re-encoded and vectors copied;
// the weights' error is what round-to-nearest in that format allows (relative RMS error of the block
// grid); and a cancelled job leaves no file.

#include "TestSupport.h"
#include "TinySyntheticShape.h"
#include "compress/RtnQuantizer.h"
#include "core/Error.h"
#include "io/GgufReader.h"
#include "io/ModelFiles.h"
#include "io/Quants.h"
#include "io/SyntheticModel.h"

#include <QTemporaryDir>
#include <QTest>
#include <cmath>

using namespace lathe;

namespace {

SyntheticModelShape tinyShape() {
    return test::tinySyntheticShape();
}

// sqrt(sum (a - b)^2 / sum b^2) over a whole tensor.
double relativeRmsError(const TensorView& got, const TensorView& want) {
    std::vector<float> a(size_t(got.rowLength())), b(size_t(want.rowLength()));
    double err = 0.0, ref = 0.0;
    for (int64_t r = 0; r < want.rowCount(); ++r) {
        dequantizeRow(got.dtype, got.row(r), a.data(), got.rowLength());
        dequantizeRow(want.dtype, want.row(r), b.data(), want.rowLength());
        for (size_t i = 0; i < a.size(); ++i) {
            err += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
            ref += double(b[i]) * b[i];
        }
    }
    return std::sqrt(err / ref);
}

} // namespace

class TestRtnQuantizer : public QObject {
    Q_OBJECT

private slots:
    void quantizesMatricesAndKeepsTheRest_data() {
        QTest::addColumn<int>("format");
        QTest::addColumn<double>("bound");
        QTest::addColumn<uint32_t>("fileType");
        // Uniform weights: the RMS rounding error of a grid of step s is s / sqrt(12); the step is
        // 2·max/254 (Q8_0), 2·max/15 (Q4_0) or (max - min)/15 (Q4_1) per block of 32.
        QTest::newRow("q8_0") << int(DType::Q8_0) << 0.006 << 7u;
        QTest::newRow("q4_0") << int(DType::Q4_0) << 0.12 << 2u;
        QTest::newRow("q4_1") << int(DType::Q4_1) << 0.08 << 3u;
    }
    void quantizesMatricesAndKeepsTheRest() {
        QFETCH(int, format);
        QFETCH(double, bound);
        QFETCH(uint32_t, fileType);
        QTemporaryDir dir;
        const std::filesystem::path source = dir.filePath("f16.gguf").toStdString();
        const std::filesystem::path output = dir.filePath("out.gguf").toStdString();
        writeSyntheticModel(source, tinyShape(), DType::F16, 9);
        const GgufFile in = GgufFile::open(source);
        const RtnQuantizeResult r = quantizeRtn(in, DType(format), output);
        QCOMPARE(r.quantizedTensors, int64_t(2 + 2 * 7)); // token_embd, output, 7 matrices per layer
        QCOMPARE(r.keptTensors, int64_t(1 + 2 * 2));      // output_norm, 2 norms per layer
        QCOMPARE(r.outputBytes, uint64_t(std::filesystem::file_size(output)));

        const GgufFile out = GgufFile::open(output);
        for (const auto& [key, value] : in.metadata())
            QVERIFY2(out.has(key), key.c_str());
        QVERIFY(out.has("general.quantization_version"));
        QCOMPARE(out.find("general.file_type")->asUint64().value_or(0), uint64_t(fileType));
        const ModelFiles files = openModelFiles(output); // the loader's checks: shapes, tokenizer
        QCOMPARE(files.tokenizer.tokens.size(), size_t(2000));
        for (const TensorView& t : in.tensors()) {
            const TensorView* o = out.findTensor(t.name);
            QVERIFY(o != nullptr);
            if (t.nDims == 1) {
                QCOMPARE(o->dtype, t.dtype);
                QCOMPARE(std::memcmp(o->data, t.data, size_t(t.nbytes)), 0);
                continue;
            }
            QCOMPARE(int(o->dtype), format);
            const double e = relativeRmsError(*o, t);
            if (e > bound)
                QFAIL(qPrintable(
                    QString("%1: relative RMS error %2").arg(QString::fromStdString(t.name)).arg(e)));
            QVERIFY(e > 0.0);
        }
    }

    void cancelledJobLeavesNoFile() {
        QTemporaryDir dir;
        const std::filesystem::path source = dir.filePath("f16.gguf").toStdString();
        const std::filesystem::path output = dir.filePath("out.gguf").toStdString();
        writeSyntheticModel(source, tinyShape(), DType::F16, 9);
        const GgufFile in = GgufFile::open(source);
        CancelToken cancel;
        int calls = 0;
        const ProgressFn progress = [&](double, std::string_view) {
            if (++calls == 5) cancel.cancel();
        };
        QVERIFY_THROWS_EXCEPTION(Error, quantizeRtn(in, DType::Q4_0, output, progress, cancel));
        QVERIFY(!std::filesystem::exists(output));
        QCOMPARE(QDir(dir.path()).entryList(QDir::Files).size(), 1); // only the source: no temporary
        QVERIFY_THROWS_EXCEPTION(Error, quantizeRtn(in, DType::Q5_K, output));
    }
};

QTEST_APPLESS_MAIN(TestRtnQuantizer)
#include "TestRtnQuantizer.moc"
