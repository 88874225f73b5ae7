// lathe-cli on the real default model: info, tokenize, generate and chat work end to end.

#include "CliRunner.h"
#include "TestSupport.h"

#include <QTemporaryDir>
#include <QtTest>

class TestCliModel : public QObject {
    Q_OBJECT
private:
    QString model_;
    QTemporaryDir dir_;
    QString db() const { return dir_.filePath("runs.db"); }

private slots:
    void initTestCase() {
        const auto path = lathe::test::defaultModelPath();
        if (!path) QSKIP(lathe::test::kNoDefaultModel);
        model_ = QString::fromStdString(path->string());
    }

    void infoDescribesSmolLM2() {
        const CliRun run = runCli({"--json", "info", model_});
        QCOMPARE(run.exitCode, 0);
        const QJsonObject info = QJsonDocument::fromJson(run.out.toUtf8()).object();
        QCOMPARE(info["architecture"].toString(), QString("llama"));
        QCOMPARE(info["layers"].toInt(), 30);
        QCOMPARE(info["hidden"].toInt(), 576);
        QCOMPARE(info["heads"].toInt(), 9);
        QCOMPARE(info["kv_heads"].toInt(), 3);
        QCOMPARE(info["vocab"].toInt(), 49152);
        QCOMPARE(info["chat_template"].toString(), QString("chatml"));
        QVERIFY(info["tied_embeddings"].toBool());
        // 134.5 M parameters (SmolLM2-135M with tied embeddings)
        QVERIFY(std::abs(info["parameters"].toDouble() - 134.5e6) < 0.5e6);
        QCOMPARE(info["tensor_types"].toObject()["q4_1"].toObject()["tensors"].toInt(), 210);
    }

    void tokenizeSpecialText() {
        const CliRun run = runCli({"--json", "tokenize", model_, "<|im_start|>user\nHi"});
        QCOMPARE(run.exitCode, 0);
        const QJsonArray tokens = QJsonDocument::fromJson(run.out.toUtf8()).object()["tokens"].toArray();
        QVERIFY(tokens.size() >= 3);
        QCOMPARE(tokens[0].toInt(), 1); // <|im_start|>
    }

    void greedyGenerationIsDeterministic() {
        const QStringList args{
            "--db", db(), "--json",  "--threads", "2", "generate", model_, "-p", "The capital of France is",
            "-n",   "12", "--greedy"};
        const CliRun first = runCli(args);
        QCOMPARE(first.exitCode, 0);
        const CliRun second = runCli(args);
        const QJsonObject a = QJsonDocument::fromJson(first.out.toUtf8()).object();
        const QJsonObject b = QJsonDocument::fromJson(second.out.toUtf8()).object();
        QCOMPARE(a["tokens"].toArray().size(), 12);
        QCOMPARE(a["tokens"], b["tokens"]);
        QVERIFY2(a["text"].toString().startsWith(" Paris."), qPrintable(a["text"].toString()));
    }

    void chatAnswersOverStdin() {
        const CliRun run = runCli({"--db", db(), "chat", model_, "--greedy", "-n", "48"}, "What is 2+2?\n");
        QCOMPARE(run.exitCode, 0);
        QVERIFY2(run.out.contains("4"), qPrintable(run.out));
        QVERIFY2(!run.out.contains("<|im_end|>"), qPrintable(run.out));
        QVERIFY(run.err.contains("tok/s"));
    }

    void benchRunsAreStoredAndCompared() {
        // Issue 5: bench, then runs show / compare of two bench runs with different thread counts.
        for (const char* threads : {"1", "2"}) {
            const CliRun bench = runCli({"--db", db(), "--json", "--threads", threads, "bench", model_, "-p",
                                         "16", "-n", "4", "-r", "2", "--no-bandwidth"});
            QCOMPARE(bench.exitCode, 0);
            const QJsonObject result = QJsonDocument::fromJson(bench.out.toUtf8()).object();
            QCOMPARE(result["pp_values"].toArray().size(), 2);
            QCOMPARE(result["tg_values"].toArray().size(), 2);
            QVERIFY(result["metrics"].toObject()["tg4_tokens_per_s"].toDouble() > 0);
            QVERIFY(result["metrics"].toObject()["peak_rss_bytes"].toDouble() >
                    50e6); // the model is mapped in
        }
        const CliRun list = runCli({"--db", db(), "--json", "runs", "list", "--kind", "bench"});
        const QJsonArray runs = QJsonDocument::fromJson(list.out.toUtf8()).object()["runs"].toArray();
        QCOMPARE(runs.size(), 2);
        const QString a = QString::number(runs[1].toObject()["id"].toInt());
        const QString b = QString::number(runs[0].toObject()["id"].toInt());
        const CliRun show = runCli({"--db", db(), "runs", "show", b});
        QCOMPARE(show.exitCode, 0);
        QVERIFY2(show.out.contains("tg4_tokens_per_s") && show.out.contains("environment"),
                 qPrintable(show.out));
        const CliRun compare = runCli({"--db", db(), "runs", "compare", a, b});
        QCOMPARE(compare.exitCode, 0);
        QVERIFY2(compare.out.contains("/threads"), qPrintable(compare.out));
        QVERIFY2(compare.out.contains("pp16_tokens_per_s"), qPrintable(compare.out));
    }

    void runsAreRecorded() {
        // Two greedy generations and one chat were recorded, each completed with its metrics.
        const CliRun list = runCli({"--db", db(), "--json", "runs", "list", "--kind", "chat"});
        QCOMPARE(list.exitCode, 0);
        const QJsonDocument doc = QJsonDocument::fromJson(list.out.toUtf8());
        const QJsonArray runs = doc.object()["runs"].toArray();
        QCOMPARE(runs.size(), 3);
        for (const QJsonValue& r : runs)
            QCOMPARE(r.toObject()["status"].toString(), QString("done"));
        const int newest = runs[0].toObject()["id"].toInt();
        const CliRun show = runCli({"--db", db(), "--json", "runs", "show", QString::number(newest)});
        QCOMPARE(show.exitCode, 0);
        QVERIFY2(show.out.contains("decode_tokens_per_s") && show.out.contains("\"verb\":\"chat\""),
                 qPrintable(show.out.left(2000)));
    }
};

QTEST_GUILESS_MAIN(TestCliModel)
#include "TestCliModel.moc"
