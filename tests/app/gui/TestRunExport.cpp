// CSV and JSON export of runs, against hand-written expected text.

#include "RunExport.h"

#include <QTest>
#include <nlohmann/json.hpp>

using namespace lathe;
using namespace lathe::gui;

class TestRunExport : public QObject {
    Q_OBJECT
private slots:
    void quotesCsvFields() {
        QCOMPARE(csvField("plain"), std::string("plain"));
        QCOMPARE(csvField("a,b"), std::string("\"a,b\""));
        QCOMPARE(csvField("say \"hi\""), std::string("\"say \"\"hi\"\"\""));
        QCOMPARE(csvField("two\nlines"), std::string("\"two\nlines\""));
    }

    void csvHasOneColumnPerMetric() {
        RunRow a;
        a.run.id = 1;
        a.run.kind = RunKind::Chat;
        a.run.status = RunStatus::Done;
        a.run.modelName = "Smol, 135M";
        a.run.startedMs = 10;
        a.run.endedMs = 20;
        a.metrics["ttft_ms"] = {"ttft_ms", 12.5, "ms"};
        RunRow b;
        b.run.id = 2;
        b.run.kind = RunKind::Bench;
        b.run.status = RunStatus::Failed;
        b.run.startedMs = 30;
        b.run.error = "bad";
        b.metrics["decode_tokens_per_s"] = {"decode_tokens_per_s", 40, "tok/s"};
        const std::string expected =
            "id,kind,model,status,started_ms,ended_ms,error,decode_tokens_per_s,ttft_ms\n"
            "1,chat,\"Smol, 135M\",done,10,20,,,12.5\n"
            "2,bench,,failed,30,,bad,40,\n";
        QCOMPARE(runsToCsv({a, b}), expected);
        const nlohmann::json json = nlohmann::json::parse(runsToJson({a, b}));
        QCOMPARE(json["runs"].size(), size_t(2));
        QCOMPARE(json["runs"][0]["metrics"]["ttft_ms"]["value"].get<double>(), 12.5);
        QVERIFY(json["runs"][1]["ended_ms"].is_null());
        QCOMPARE(json["runs"][1]["status"].get<std::string>(), std::string("failed"));
    }
};

QTEST_MAIN(TestRunExport)
#include "TestRunExport.moc"
