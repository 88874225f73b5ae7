// lathe-cli's compression verbs on a tiny synthetic model: `recipe run` writes a variant, evaluates it
// against its parent and records it (--json names the run and the variant); `eval --base-device` scores
// a model against itself on another backend; `quantize --method` and `prune` refuse bad flags with one
// clear line and exit 1, leaving no file.

#include "CliRunner.h"
#include "TinySyntheticShape.h"
#include "io/SyntheticModel.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

class TestCliCompress : public QObject {
    Q_OBJECT
private:
    static void expectUserError(const CliRun& run, const QString& mustMention) {
        QCOMPARE(run.exitCode, 1);
        QVERIFY2(run.err.trimmed().split('\n').size() == 1, qPrintable(run.err));
        QVERIFY2(run.err.contains(mustMention), qPrintable(run.err));
    }

private slots:
    void recipeRunWritesAndRecordsAVariant() {
        QTemporaryDir dir;
        const QString model = dir.filePath("tiny.gguf");
        lathe::writeSyntheticModel(model.toStdString(), lathe::test::tinySyntheticShape(), lathe::DType::F16);
        QFile recipe(dir.filePath("recipe.json"));
        QVERIFY(recipe.open(QIODevice::WriteOnly));
        recipe.write(R"({"name": "wanda then gptq",
                         "steps": [{"method": "wanda", "pattern": "2:4"},
                                   {"method": "gptq", "bits": 4, "group": 32, "symmetric": true}],
                         "calibration": {"tokens": 128, "ctx": 64},
                         "model": "tiny.gguf", "output": "tiny.variant.gguf"})");
        recipe.close();
        const CliRun run =
            runCli({"--db", dir.filePath("runs.db"), "--json", "--threads", "2", "recipe", "run",
                    dir.filePath("recipe.json"), "-c", "64", "--chunks", "2", "--no-bench"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const QJsonObject out = QJsonDocument::fromJson(run.out.toUtf8()).object();
        QVERIFY(out["variant_id"].isDouble() && out["run_id"].isDouble());
        QVERIFY(QFile::exists(dir.filePath("tiny.variant.gguf")));
        QVERIFY(out["output_bytes"].toDouble() < out["input_bytes"].toDouble()); // 4-bit of an F16 model
        QVERIFY(out["kl_divergence"].toDouble() >= 0.0);
        QVERIFY(out["sparsity"].toDouble() >= 0.5); // 2:4, kept through the symmetric 4-bit grid

        // The run store lists it as a compress run.
        const CliRun runs = runCli({"--db", dir.filePath("runs.db"), "--json", "runs", "list"});
        QVERIFY2(runs.exitCode == 0 && runs.out.contains("compress"), qPrintable(runs.out + runs.err));
    }

    // --base-device scores the model against itself on another backend: on the same one the KL divergence
    // is exactly 0 and every top-1 choice agrees; a device that is not there is one clear line.
    void evalAgainstAnotherDevice() {
        QTemporaryDir dir;
        const QString model = dir.filePath("tiny.gguf");
        lathe::writeSyntheticModel(model.toStdString(), lathe::test::tinySyntheticShape(),
                                   lathe::DType::Q8_0);
        const CliRun run = runCli({"--db", dir.filePath("runs.db"), "--json", "--threads", "2", "eval", model,
                                   "-c", "64", "--chunks", "2", "--base-device", "cpu"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const QJsonObject out = QJsonDocument::fromJson(run.out.toUtf8()).object();
        QCOMPARE(out["kl_divergence"].toDouble(), 0.0);
        QCOMPARE(out["top1_agreement"].toDouble(), 1.0);
        QCOMPARE(out["base_perplexity"].toDouble(), out["perplexity"].toDouble());
        expectUserError(runCli({"--db", dir.filePath("runs.db"), "eval", model, "-c", "64", "--chunks", "1",
                                "--base-device", "cuda:7"}),
                        "cuda:7");
    }

    void badFlagsAreOneClearLine() {
        QTemporaryDir dir;
        const QString model = dir.filePath("tiny.gguf");
        lathe::writeSyntheticModel(model.toStdString(), lathe::test::tinySyntheticShape(), lathe::DType::F16);
        const QString out = dir.filePath("out.gguf");
        const QString db = dir.filePath("runs.db");
        expectUserError(runCli({"--db", db, "quantize", model, "--method", "gptq", "--bits", "5", "-o", out}),
                        "bits");
        expectUserError(runCli({"--db", db, "quantize", model, "--method", "zip", "-o", out}), "zip");
        expectUserError(runCli({"--db", db, "prune", model, "--method", "heads", "--unit", "kv", "-o", out}),
                        "kv");
        // Two query heads in one KV group: a tenth of them is no head at all.
        expectUserError(
            runCli({"--db", db, "prune", model, "--method", "heads", "--sparsity", "0.1", "-o", out}), "1/2");
        expectUserError(
            runCli({"--db", db, "prune", model, "--method", "heads", "--unit", "group", "-o", out}),
            "single");
        expectUserError(
            runCli({"--db", db, "prune", model, "--method", "wanda", "--pattern", "4:2", "-o", out}), "4");
        QFile bad(dir.filePath("bad.json"));
        QVERIFY(bad.open(QIODevice::WriteOnly));
        bad.write("{\"steps\": [");
        bad.close();
        expectUserError(
            runCli({"--db", db, "recipe", "run", dir.filePath("bad.json"), "--model", model, "-o", out}),
            "bad.json");
        QVERIFY(!QFile::exists(out));
    }
};

QTEST_GUILESS_MAIN(TestCliCompress)
#include "TestCliCompress.moc"
