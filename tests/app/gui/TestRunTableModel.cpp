// RunTableModel: cells from run records and metrics, numeric sort values, QAbstractItemModelTester
// on the model and on the sorting proxy the Runs page puts in front of it.

#include "RunTableModel.h"

#include <QAbstractItemModelTester>
#include <QSortFilterProxyModel>
#include <QTest>

using namespace lathe;
using namespace lathe::gui;

namespace {

RunRow row(int64_t id, RunKind kind, double tps, int64_t startedMs, std::optional<int64_t> endedMs) {
    RunRow r;
    r.run.id = id;
    r.run.kind = kind;
    r.run.status = endedMs ? RunStatus::Done : RunStatus::Running;
    r.run.modelName = "SmolLM2";
    r.run.startedMs = startedMs;
    r.run.endedMs = endedMs;
    if (tps >= 0) r.metrics["decode_tokens_per_s"] = {"decode_tokens_per_s", tps, "tok/s"};
    return r;
}

} // namespace

class TestRunTableModel : public QObject {
    Q_OBJECT
private slots:
    void cellsAndSorting() {
        RunTableModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSortFilterProxyModel proxy;
        proxy.setSourceModel(&model);
        proxy.setSortRole(Qt::UserRole);
        QAbstractItemModelTester proxyTester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        // 9.5 sorts below 10.24 as numbers (as text, "9.5" > "10.24").
        model.setRows({row(1, RunKind::Chat, 10.24, 1000, 2500),
                       row(2, RunKind::Bench, 9.5, 2000, std::nullopt),
                       row(3, RunKind::Chat, -1, 3000, 3000 + 61000 + 500)});
        QCOMPARE(model.rowCount(), 3);
        QCOMPARE(model.columnCount(), int(RunTableModel::ColumnCount));
        QCOMPARE(model.data(model.index(0, RunTableModel::Kind), Qt::DisplayRole).toString(),
                 QString("chat"));
        QCOMPARE(model.data(model.index(0, RunTableModel::Duration), Qt::DisplayRole).toString(),
                 QString("1.5 s"));
        QCOMPARE(model.data(model.index(1, RunTableModel::Duration), Qt::DisplayRole).toString(),
                 QString("—"));
        QCOMPARE(model.data(model.index(2, RunTableModel::Duration), Qt::DisplayRole).toString(),
                 QString("1 min 1 s"));
        QCOMPARE(model.data(model.index(2, RunTableModel::TokensPerSecond), Qt::DisplayRole).toString(),
                 QString("—"));
        QCOMPARE(model.data(model.index(0, RunTableModel::TokensPerSecond), Qt::DisplayRole).toString(),
                 QString("10.2"));
        proxy.sort(RunTableModel::TokensPerSecond, Qt::DescendingOrder);
        QCOMPARE(proxy.data(proxy.index(0, RunTableModel::Id)).toLongLong(), 1);
        QCOMPARE(proxy.data(proxy.index(1, RunTableModel::Id)).toLongLong(), 2);
        QCOMPARE(proxy.data(proxy.index(2, RunTableModel::Id)).toLongLong(), 3);
        model.setRows({});
        QCOMPARE(proxy.rowCount(), 0);
    }
};

QTEST_MAIN(TestRunTableModel)
#include "TestRunTableModel.moc"
