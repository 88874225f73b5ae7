// ModelListModel: rows from store records, lookups by id and path, passes QAbstractItemModelTester.

#include "ModelListModel.h"

#include <QAbstractItemModelTester>
#include <QTest>

using namespace lathe;
using namespace lathe::gui;

class TestModelListModel : public QObject {
    Q_OBJECT
private slots:
    void listsModels() {
        ModelListModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        ModelRecord a;
        a.id = 7;
        a.path = "/m/a.gguf";
        a.name = "Alpha";
        a.architecture = "llama";
        a.fileBytes = 98362432;
        a.parameterCount = 134515008;
        ModelRecord b = a;
        b.id = 9;
        b.path = "/m/b";
        b.name = "";
        model.setModels({a, b});
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.data(model.index(0), Qt::DisplayRole).toString(),
                 QString("Alpha\nllama · 93.8 MiB · 134.5 M params"));
        QCOMPARE(model.data(model.index(1), Qt::DisplayRole).toString().section('\n', 0, 0), QString("b"));
        QCOMPARE(model.rowOfId(9), 1);
        QCOMPARE(model.rowOfPath("/m/a.gguf"), 0);
        QCOMPARE(model.rowOfId(1), -1);
        model.setModels({});
        QCOMPARE(model.rowCount(), 0);
    }

    void humanUnits() {
        QCOMPARE(humanBytes(512), QString("512 B"));
        QCOMPARE(humanBytes(1536), QString("1.5 KiB"));
        QCOMPARE(humanCount(7.24e9), QString("7.24 B"));
        QCOMPARE(humanCount(999), QString("999"));
    }
};

QTEST_MAIN(TestModelListModel)
#include "TestModelListModel.moc"
