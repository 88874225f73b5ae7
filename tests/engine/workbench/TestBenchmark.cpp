// The bench statistics and the decode roofline's byte count, against hand-computed values.

#include "core/Statistics.h"
#include "io/ModelFiles.h"
#include "workbench/Benchmark.h"

#include <QtTest>

using namespace lathe;

namespace {

TensorView tensorOf(const std::string& name, DType type, int64_t cols, int64_t rows) {
    TensorView t;
    t.name = name;
    t.dtype = type;
    t.nDims = 2;
    t.shape = {cols, rows, 1, 1};
    t.nbytes = rowBytes(type, uint64_t(cols)) * uint64_t(rows);
    return t;
}

} // namespace

class TestBenchmark : public QObject {
    Q_OBJECT
private slots:
    void meanAndSampleStandardDeviation() {
        const BenchStat s = benchStat({2, 4, 4, 4, 5, 5, 7, 9});
        QCOMPARE(s.mean, 5.0);
        // sum of squared deviations 32, over n - 1 = 7
        QVERIFY(std::abs(s.stddev - std::sqrt(32.0 / 7.0)) < 1e-12);
        QCOMPARE(benchStat({3}).stddev, 0.0);
        QCOMPARE(benchStat({}).mean, 0.0);
    }

    void percentilesInterpolateBetweenRanks() {
        const std::vector<double> v{10, 20, 30, 40, 50};
        QCOMPARE(percentile(v, 50), 30.0);
        QCOMPARE(percentile(v, 0), 10.0);
        QCOMPARE(percentile(v, 100), 50.0);
        QCOMPARE(percentile(v, 99), 49.6); // rank 3.96 between 40 and 50
        QCOMPARE(percentile({7}, 99), 7.0);
    }

    void decodeReadsEveryMatrixOnceAndTheTiedOutput() {
        ModelFiles files;
        files.config.tiedEmbeddings = true;
        files.tensors["token_embd.weight"] =
            tensorOf("token_embd.weight", DType::Q8_0, 64, 100); // 100 x 68 B
        files.tensors["blk.0.attn_q.weight"] =
            tensorOf("blk.0.attn_q.weight", DType::Q4_1, 64, 64);                                // 64 x 40 B
        files.tensors["output_norm.weight"] = tensorOf("output_norm.weight", DType::F32, 64, 1); // 256 B
        // weights 2560 + norm 256 + one embedding row 68 + the tied output 6800
        QCOMPARE(decodeWeightBytes(files), uint64_t(2560 + 256 + 68 + 6800));
        files.config.tiedEmbeddings = false;
        files.tensors["output.weight"] = tensorOf("output.weight", DType::F16, 64, 100); // 12800 B
        QCOMPARE(decodeWeightBytes(files), uint64_t(2560 + 256 + 68 + 12800));
    }
};

QTEST_APPLESS_MAIN(TestBenchmark)
#include "TestBenchmark.moc"
