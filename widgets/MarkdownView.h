#pragma once
// Read-only rich text that renders Markdown (CommonMark: `_x_` is italics, not GitHub's underline)
// and grows to fit its content, so a column of them scrolls as one page. Fenced code blocks get a
// tinted background and a monospace font.

#include <QTextBrowser>

namespace lathe::widgets {

class MarkdownView : public QTextBrowser {
    Q_OBJECT
public:
    explicit MarkdownView(QWidget* parent = nullptr);

    // Renders `markdown`; returns the milliseconds it took (the caller paces re-renders by it).
    double setMarkdownText(const QString& markdown);
    void setPlain(const QString& text);
    QString sourceText() const { return source_; }

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void resizeEvent(QResizeEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;

private:
    void styleCodeBlocks();
    void fitHeight();

    QString source_;
    int lastHeight_ = -1;
};

} // namespace lathe::widgets
