#include "widgets/DropZone.h"

#include "widgets/Theme.h"

#include <QDragEnterEvent>
#include <QDropEvent>
#include <QLabel>
#include <QMimeData>
#include <QStyle>
#include <QUrl>
#include <QVBoxLayout>

namespace lathe::widgets {

DropZone::DropZone(QWidget* parent) : QFrame(parent) {
    setObjectName("dropZone");
    setAcceptDrops(true);
    setCursor(Qt::PointingHandCursor);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(16, 12, 16, 12);
    title_ = new QLabel(tr("Drop a model here"), this);
    title_->setAlignment(Qt::AlignCenter);
    title_->setStyleSheet("font-weight: 600; color: #444c56; background: transparent;");
    hint_ = new QLabel(tr("a .gguf file or a Hugging Face model folder — or click to browse"), this);
    hint_->setAlignment(Qt::AlignCenter);
    hint_->setWordWrap(true);
    setRole(hint_, "muted");
    hint_->setStyleSheet("background: transparent;");
    layout->addWidget(title_);
    layout->addWidget(hint_);
}

void DropZone::setText(const QString& title, const QString& hint) {
    title_->setText(title);
    hint_->setText(hint);
}

QStringList DropZone::pathsFromMime(const QMimeData* mime) {
    QStringList paths;
    if (!mime || !mime->hasUrls()) return paths;
    for (const QUrl& url : mime->urls())
        if (url.isLocalFile()) paths.append(url.toLocalFile());
    return paths;
}

void DropZone::dragEnterEvent(QDragEnterEvent* event) {
    if (pathsFromMime(event->mimeData()).isEmpty()) return;
    event->acceptProposedAction();
    setActive(true);
}

void DropZone::dragLeaveEvent(QDragLeaveEvent*) {
    setActive(false);
}

void DropZone::dropEvent(QDropEvent* event) {
    setActive(false);
    const QStringList paths = pathsFromMime(event->mimeData());
    if (paths.isEmpty()) return;
    event->acceptProposedAction();
    emit pathsDropped(paths);
}

void DropZone::mouseReleaseEvent(QMouseEvent* event) {
    QFrame::mouseReleaseEvent(event);
    emit browseRequested();
}

void DropZone::setActive(bool active) {
    setProperty("active", active);
    style()->unpolish(this);
    style()->polish(this);
}

} // namespace lathe::widgets
