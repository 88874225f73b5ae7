#pragma once
// Runs lathe-cli as a child process and collects its exit status, stdout and stderr.

#include <QProcess>
#include <QStringList>
#include <QtTest>

struct CliRun {
    int exitCode = -1;
    QString out;
    QString err;
};

inline CliRun runCli(const QStringList& arguments, const QByteArray& input = {}, int timeoutMs = 300000) {
    QProcess process;
    process.start(LATHE_CLI_PATH, arguments);
    if (!process.waitForStarted()) return {};
    if (!input.isEmpty()) process.write(input);
    process.closeWriteChannel();
    process.waitForFinished(timeoutMs);
    CliRun run;
    run.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    run.out = QString::fromUtf8(process.readAllStandardOutput());
    run.err = QString::fromUtf8(process.readAllStandardError());
    return run;
}
