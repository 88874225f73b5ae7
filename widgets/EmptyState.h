#pragma once
// What an empty pane says instead of staying blank: a title, a line of help, and optionally a button.

#include <QWidget>

class QLabel;
class QPushButton;

namespace lathe::widgets {

class EmptyState : public QWidget {
    Q_OBJECT
public:
    explicit EmptyState(QWidget* parent = nullptr);
    void setContent(const QString& title, const QString& text);
    // Shows a button under the text; returns it so that the caller can connect it.
    QPushButton* setAction(const QString& label);

private:
    QLabel* title_;
    QLabel* text_;
    QPushButton* action_ = nullptr;
};

} // namespace lathe::widgets
