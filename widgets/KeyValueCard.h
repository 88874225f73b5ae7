#pragma once
// A card of labelled facts (a model card, a run summary): a title, then rows of "key   value".

#include <QFrame>

class QGridLayout;
class QLabel;

namespace lathe::widgets {

class KeyValueCard : public QFrame {
    Q_OBJECT
public:
    explicit KeyValueCard(const QString& title = {}, QWidget* parent = nullptr);
    void setTitle(const QString& title);
    void clear();
    void addRow(const QString& key, const QString& value);
    int rowCount() const { return rows_; }
    QString value(const QString& key) const;

private:
    QLabel* title_;
    QGridLayout* grid_;
    int rows_ = 0;
};

} // namespace lathe::widgets
