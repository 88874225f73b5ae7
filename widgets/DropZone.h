#pragma once
// A dashed target for dropped model files and folders. pathsFromMime() is shared with the main
// window, which accepts drops anywhere.

#include <QFrame>
#include <QStringList>

class QLabel;
class QMimeData;

namespace lathe::widgets {

class DropZone : public QFrame {
    Q_OBJECT
public:
    explicit DropZone(QWidget* parent = nullptr);
    void setText(const QString& title, const QString& hint);

    // Local files and folders named by dropped URLs (anything else is ignored).
    static QStringList pathsFromMime(const QMimeData* mime);

signals:
    void pathsDropped(const QStringList& paths);
    void browseRequested();

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dragLeaveEvent(QDragLeaveEvent* event) override;
    void dropEvent(QDropEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;

private:
    void setActive(bool active);

    QLabel* title_;
    QLabel* hint_;
};

} // namespace lathe::widgets
