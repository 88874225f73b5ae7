// The Runs page over a store with known runs: filters, comparison of two runs (differences and
// metrics), and export to a file.

#include "GuiTestSupport.h"
#include "RunTableModel.h"
#include "RunsPage.h"
#include "store/RunStore.h"

#include <QComboBox>
#include <QFile>
#include <QSortFilterProxyModel>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

using namespace lathe;
using namespace lathe::gui;

class TestRunsPage : public QObject {
    Q_OBJECT
    QTemporaryDir settingsDir_;

private slots:
    void initTestCase() { test::isolateSettings(settingsDir_); }

    void listsFiltersComparesAndExports() {
        QTemporaryDir dir;
        auto context = test::makeContext(dir);
        RunStore& store = context->store();
        ModelRecord model;
        model.path = "/models/smol.gguf";
        model.name = "Smol";
        model.architecture = "llama";
        const int64_t modelId = store.registerModel(model);
        const int64_t chat =
            store.beginRun(RunKind::Chat, modelId, {{"decoding", {{"temperature", 0.8}}}}, {});
        store.addMetric(chat, {"decode_tokens_per_s", 20, "tok/s"});
        store.appendSamples(chat, std::vector<RunSample>{{"itl_ms", 0.1, 50}, {"itl_ms", 0.2, 52}});
        store.finishRun(chat, RunStatus::Done);
        const int64_t bench =
            store.beginRun(RunKind::Bench, modelId, {{"decoding", {{"temperature", 0.0}}}}, {});
        store.addMetric(bench, {"decode_tokens_per_s", 25, "tok/s"});
        store.finishRun(bench, RunStatus::Done);

        RunsPage page(*context);
        page.resize(1280, 800);
        page.show();
        QCOMPARE(page.tableModel()->rowCount(), 2);

        auto* kind = page.findChildren<QComboBox*>().first();
        kind->setCurrentIndex(kind->findData(QString("bench")));
        QCOMPARE(page.tableModel()->rowCount(), 1);
        QCOMPARE(page.tableModel()->rowAt(0)->run.id, bench);
        kind->setCurrentIndex(0);
        QCOMPARE(page.tableModel()->rowCount(), 2);

        QVERIFY(page.compare(chat, bench));
        QTableWidget* diff = nullptr;
        QTableWidget* metrics = nullptr;
        for (QTableWidget* table : page.findChildren<QTableWidget*>())
            (table->columnCount() == 3 ? diff : metrics) = table;
        QVERIFY(diff && metrics);
        bool sawTemperature = false;
        for (int r = 0; r < diff->rowCount(); ++r)
            if (diff->item(r, 0)->text().contains("/decoding/temperature")) {
                sawTemperature = true;
                QCOMPARE(diff->item(r, 1)->text(), QString("0.8"));
                QCOMPARE(diff->item(r, 2)->text(), QString("0")); // floats shown with 6 significant digits
            }
        QVERIFY(sawTemperature);
        QCOMPARE(metrics->rowCount(), 1);
        QCOMPARE(metrics->item(0, 3)->text(), QString("+25.0 %")); // 25 / 20 - 1
        QVERIFY(!page.compare(chat, 999));

        const QString csv = dir.filePath("runs.csv");
        QVERIFY(page.exportTo(csv, false));
        QFile file(csv);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QList<QByteArray> lines = file.readAll().split('\n');
        QCOMPARE(lines.size(), 4); // header, two runs, final newline
        QVERIFY(lines[0].startsWith("id,kind,model,status"));
    }
};

QTEST_MAIN(TestRunsPage)
#include "TestRunsPage.moc"
