// DropZone: a drop of local files emits their paths; remote URLs are ignored.

#include "widgets/DropZone.h"

#include <QMimeData>
#include <QSignalSpy>
#include <QTest>
#include <QUrl>

using lathe::widgets::DropZone;

class TestDropZone : public QObject {
    Q_OBJECT
private slots:
    void dropEmitsLocalPaths() {
        DropZone zone;
        zone.resize(300, 100);
        zone.show();
        QSignalSpy dropped(&zone, &DropZone::pathsDropped);
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile("/tmp/a.gguf"), QUrl("https://example.com/b.gguf"),
                      QUrl::fromLocalFile("/tmp/m")});
        QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QCoreApplication::sendEvent(&zone, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QCoreApplication::sendEvent(&zone, &drop);
        QCOMPARE(dropped.count(), 1);
        QCOMPARE(dropped.at(0).at(0).toStringList(), QStringList({"/tmp/a.gguf", "/tmp/m"}));
    }

    void ignoresDragsWithoutFiles() {
        DropZone zone;
        QMimeData mime;
        mime.setText("not a file");
        QDragEnterEvent enter(QPoint(1, 1), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        enter.setAccepted(false);
        QCoreApplication::sendEvent(&zone, &enter);
        QVERIFY(!enter.isAccepted());
        QVERIFY(DropZone::pathsFromMime(&mime).isEmpty());
    }
};

QTEST_MAIN(TestDropZone)
#include "TestDropZone.moc"
