// Dropping models on the main window: a real .gguf is validated, registered in the store and listed;
// a corrupt file shows an error and registers nothing.

#include "GuiTestSupport.h"
#include "MainWindow.h"
#include "ModelListModel.h"
#include "ModelsPage.h"
#include "TestSupport.h"
#include "store/RunStore.h"

#include <QFile>
#include <QListView>
#include <QMimeData>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>
#include <filesystem>

using namespace lathe;
using namespace lathe::gui;

namespace {

void dropOn(QWidget* target, const QString& path) {
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(path)});
    const QPoint at(target->width() / 2, target->height() / 2);
    QDragEnterEvent enter(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(target, &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent drop(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(target, &drop);
}

} // namespace

class TestModelsPage : public QObject {
    Q_OBJECT
    QTemporaryDir settingsDir_;

private slots:
    void initTestCase() { test::isolateSettings(settingsDir_); }

    void droppingRealGgufRegistersAndListsIt() {
        const auto model = test::defaultModelPath();
        if (!model) QSKIP(test::kNoDefaultModel);
        QTemporaryDir dir;
        auto context = test::makeContext(dir);
        MainWindow window(*context);
        window.resize(1280, 800);
        window.show();
        QCOMPARE(context->store().listModels().size(), size_t(0));
        QSignalSpy added(window.modelsPage(), &ModelsPage::modelAdded);
        dropOn(&window, QString::fromStdString(model->string()));
        QVERIFY(added.wait(30000));
        const std::vector<ModelRecord> models = context->store().listModels();
        QCOMPARE(models.size(), size_t(1));
        QCOMPARE(models[0].path, std::filesystem::absolute(*model).string());
        QCOMPARE(models[0].architecture, std::string("llama"));
        QCOMPARE(models[0].fileBytes, uint64_t(std::filesystem::file_size(*model)));
        QCOMPARE(models[0].summary["layers"].get<int>(), 30);
        QCOMPARE(models[0].summary["hidden"].get<int>(), 576);
        QCOMPARE(models[0].summary["vocab"].get<int>(), 49152);
        ModelListModel* list = window.modelsPage()->listModel();
        QCOMPARE(list->rowCount(), 1);
        QCOMPARE(list->data(list->index(0), ModelListModel::PathRole).toString(),
                 QString::fromStdString(models[0].path));
        QCOMPARE(window.modelsPage()->selectedModelId(), std::optional<int64_t>(models[0].id));
        QVERIFY(window.modelsPage()->errorText().isEmpty());

        // Dropping it again finds the same row.
        dropOn(&window, QString::fromStdString(model->string()));
        QVERIFY(added.wait(30000));
        QCOMPARE(context->store().listModels().size(), size_t(1));
    }

    void droppingCorruptFileShowsErrorAndRegistersNothing() {
        QTemporaryDir dir;
        auto context = test::makeContext(dir);
        MainWindow window(*context);
        window.show();
        // A GGUF header that claims a billion tensors in a 64-byte file.
        QByteArray bytes("GGUF");
        const auto put = [&bytes](quint64 v, int n) {
            for (int i = 0; i < n; ++i)
                bytes.append(char((v >> (8 * i)) & 0xff));
        };
        put(3, 4);          // version
        put(1000000000, 8); // tensor count
        put(0, 8);          // metadata count
        bytes.append(QByteArray(40, '\0'));
        const QString corrupt = dir.filePath("broken.gguf");
        QFile file(corrupt);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(bytes);
        file.close();
        const QString notModel = dir.filePath("notes.gguf");
        QFile text(notModel);
        QVERIFY(text.open(QIODevice::WriteOnly));
        text.write("just some text, not a model");
        text.close();

        QSignalSpy failed(window.modelsPage(), &ModelsPage::addFailed);
        dropOn(&window, corrupt);
        QVERIFY(failed.wait(10000));
        QCOMPARE(failed.at(0).at(0).toString(), corrupt);
        QVERIFY2(window.modelsPage()->errorText().contains("broken.gguf"),
                 qPrintable(window.modelsPage()->errorText()));
        dropOn(&window, notModel);
        QVERIFY(failed.wait(10000));
        QVERIFY2(window.modelsPage()->errorText().contains("not a GGUF file"),
                 qPrintable(window.modelsPage()->errorText()));
        QCOMPARE(context->store().listModels().size(), size_t(0));
        QCOMPARE(window.modelsPage()->listModel()->rowCount(), 0);
    }
};

QTEST_MAIN(TestModelsPage)
#include "TestModelsPage.moc"
