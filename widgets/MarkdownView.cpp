#include "widgets/MarkdownView.h"

#include <QAbstractTextDocumentLayout>
#include <QElapsedTimer>
#include <QFontDatabase>
#include <QScrollBar>
#include <QTextBlock>
#include <QTextCursor>
#include <QWheelEvent>

namespace lathe::widgets {

MarkdownView::MarkdownView(QWidget* parent) : QTextBrowser(parent) {
    setFrameShape(QFrame::NoFrame);
    setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    setOpenExternalLinks(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::LinksAccessibleByMouse |
                            Qt::TextSelectableByKeyboard);
    viewport()->setAutoFillBackground(false);
    setStyleSheet("QTextBrowser { background: transparent; border: none; }");
    document()->setDocumentMargin(2);
    connect(document()->documentLayout(), &QAbstractTextDocumentLayout::documentSizeChanged, this,
            [this] { fitHeight(); });
}

double MarkdownView::setMarkdownText(const QString& markdown) {
    QElapsedTimer timer;
    timer.start();
    source_ = markdown;
    document()->setMarkdown(markdown, QTextDocument::MarkdownDialectCommonMark);
    styleCodeBlocks();
    fitHeight();
    return double(timer.nsecsElapsed()) / 1e6;
}

void MarkdownView::setPlain(const QString& text) {
    source_ = text;
    setPlainText(text);
    fitHeight();
}

// Qt's Markdown importer marks fenced and indented code blocks with BlockCodeFence /
// BlockCodeLanguage; it gives them a fixed-pitch font but no background, which reads poorly.
void MarkdownView::styleCodeBlocks() {
    const QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
    QTextCursor cursor(document());
    cursor.beginEditBlock();
    for (QTextBlock block = document()->begin(); block.isValid(); block = block.next()) {
        const QTextBlockFormat format = block.blockFormat();
        if (!format.hasProperty(QTextFormat::BlockCodeFence) &&
            !format.hasProperty(QTextFormat::BlockCodeLanguage) && !block.charFormat().fontFixedPitch())
            continue;
        QTextBlockFormat code = format;
        code.setBackground(QColor(0xf3, 0xf4, 0xf6));
        code.setLeftMargin(8);
        code.setRightMargin(8);
        cursor.setPosition(block.position());
        cursor.setBlockFormat(code);
        cursor.movePosition(QTextCursor::EndOfBlock, QTextCursor::KeepAnchor);
        QTextCharFormat chars;
        chars.setFontFamilies(
            {mono.family(), QStringLiteral("DejaVu Sans Mono"), QStringLiteral("monospace")});
        chars.setFontFixedPitch(true);
        chars.setFontPointSize(font().pointSizeF() * 0.95);
        cursor.mergeCharFormat(chars);
    }
    cursor.endEditBlock();
}

void MarkdownView::fitHeight() {
    document()->setTextWidth(viewport()->width());
    const int height = int(document()->size().height() + 0.5) + frameWidth() * 2 + 2;
    if (height == lastHeight_) return;
    lastHeight_ = height;
    setFixedHeight(height);
    updateGeometry();
}

QSize MarkdownView::sizeHint() const {
    return {QTextBrowser::sizeHint().width(), lastHeight_ > 0 ? lastHeight_ : 24};
}

QSize MarkdownView::minimumSizeHint() const {
    return {60, lastHeight_ > 0 ? lastHeight_ : 24};
}

void MarkdownView::resizeEvent(QResizeEvent* event) {
    QTextBrowser::resizeEvent(event);
    fitHeight();
}

// The view never scrolls itself: the wheel belongs to the surrounding chat.
void MarkdownView::wheelEvent(QWheelEvent* event) {
    event->ignore();
}

} // namespace lathe::widgets
