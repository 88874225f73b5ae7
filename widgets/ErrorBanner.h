#pragma once
// An error shown in a page (not a dialog): a red banner with selectable text and a Dismiss button,
// hidden until showError().

#include <QFrame>

class QLabel;

namespace lathe::widgets {

class ErrorBanner : public QFrame {
    Q_OBJECT
public:
    explicit ErrorBanner(QWidget* parent = nullptr);
    void showError(const QString& text);
    // The text while shown, else empty.
    QString errorText() const;

private:
    QLabel* label_;
};

} // namespace lathe::widgets
