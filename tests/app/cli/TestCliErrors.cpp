// lathe-cli on bad input: one clear line on stderr and exit status 1, never a crash.

#include "CliRunner.h"

#include <QTemporaryDir>
#include <QtTest>
#include <cstring>

class TestCliErrors : public QObject {
    Q_OBJECT
private:
    static void expectUserError(const CliRun& run, const QString& mustMention) {
        QCOMPARE(run.exitCode, 1);
        const QStringList lines = run.err.trimmed().split('\n');
        QCOMPARE(lines.size(), 1);
        QVERIFY2(lines[0].startsWith("lathe-cli: "), qPrintable(run.err));
        QVERIFY2(run.err.contains(mustMention), qPrintable(run.err));
        QVERIFY(run.out.isEmpty());
    }

private slots:
    void missingPath() {
        expectUserError(runCli({"info", "/nonexistent/model.gguf"}), "/nonexistent/model.gguf");
        expectUserError(runCli({"generate", "/nonexistent/model.gguf", "-p", "hi"}),
                        "/nonexistent/model.gguf");
        expectUserError(runCli({"chat", "/nonexistent/model.gguf"}), "/nonexistent/model.gguf");
    }

    void nonModelFile() {
        QTemporaryDir dir;
        const QString path = dir.filePath("notes.txt");
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("these are not the weights you are looking for\n");
        file.close();
        expectUserError(runCli({"info", path}), "notes.txt");
        expectUserError(runCli({"chat", path}), "notes.txt");
        const QString fakeGguf = dir.filePath("fake.gguf");
        QVERIFY(QFile::copy(path, fakeGguf));
        expectUserError(runCli({"generate", fakeGguf, "-p", "hi"}), "fake.gguf");
    }

    void folderWithoutConfig() {
        QTemporaryDir dir;
        expectUserError(runCli({"info", dir.path()}), dir.path());
    }

    void badFlags() {
        const CliRun unknownVerb = runCli({"frobnicate"});
        QCOMPARE(unknownVerb.exitCode, 1);
        const CliRun badDevice = runCli({"--device", "tpu:3", "devices"});
        QCOMPARE(badDevice.exitCode, 0); // devices ignores --device; selecting happens when a model loads
        const CliRun badLevel = runCli({"--log-level", "loud", "devices"});
        QCOMPARE(badLevel.exitCode, 1);
        QVERIFY(badLevel.err.contains("loud"));
    }

    void devicesListsTheCpu() {
        const CliRun run = runCli({"--json", "devices"});
        QCOMPARE(run.exitCode, 0);
        const QJsonObject object = QJsonDocument::fromJson(run.out.toUtf8()).object();
        const QJsonArray devices = object["devices"].toArray();
        QVERIFY(!devices.isEmpty());
        QCOMPARE(devices[0].toObject()["id"].toString(), QString("cpu"));
        QVERIFY(devices[0].toObject()["cores"].toInt() >= 1);
        // The kernel set follows the processor's features, and LATHE_CPU_KERNELS caps it.
        const QString kernels = devices[0].toObject()["kernels"].toString();
        const QJsonArray features = devices[0].toObject()["features"].toArray();
        QCOMPARE(kernels == "avx512", features.contains("avx512vnni") && features.contains("avx512bw") &&
                                          qgetenv("LATHE_CPU_KERNELS").isEmpty());
        QVERIFY(kernels == "avx512" || kernels == "avx2" || kernels == "scalar");
        for (const char* cap : {"avx2", "scalar"}) {
            qputenv("LATHE_CPU_KERNELS", cap);
            const CliRun capped = runCli({"--json", "devices"});
            qunsetenv("LATHE_CPU_KERNELS");
            const QString got = QJsonDocument::fromJson(capped.out.toUtf8())
                                    .object()["devices"]
                                    .toArray()[0]
                                    .toObject()["kernels"]
                                    .toString();
            QCOMPARE(got, QString(std::strcmp(cap, "scalar") == 0 || !features.contains("avx2") ? "scalar"
                                                                                                : "avx2"));
        }
        // Without a usable GPU the report says why, in one line.
        bool gpuUsable = false;
        for (const QJsonValue& d : devices)
            gpuUsable |= d.toObject()["id"].toString().startsWith("cuda") && d.toObject()["usable"].toBool();
        if (!gpuUsable) QVERIFY(!object["gpu_absent_reason"].toString().isEmpty());
    }
};

QTEST_GUILESS_MAIN(TestCliErrors)
#include "TestCliErrors.moc"
