#pragma once
// The run history: filters (kind, model, date), sortable columns, export to CSV/JSON, and a side by
// side comparison of two selected runs (configuration differences highlighted, metrics, and a time
// series of both overlaid).

#include <QWidget>
#include <optional>

class QComboBox;
class QLabel;
class QPushButton;
class QSortFilterProxyModel;
class QStackedWidget;
class QTableView;
class QTableWidget;

namespace lathe::widgets {
class EmptyState;
class LiveChart;
} // namespace lathe::widgets

namespace lathe::gui {

class AppContext;
class RunTableModel;

class RunsPage : public QWidget {
    Q_OBJECT
public:
    explicit RunsPage(AppContext& context, QWidget* parent = nullptr);

    void refresh();
    RunTableModel* tableModel() const { return model_; }
    QSortFilterProxyModel* proxyModel() const { return proxy_; }
    QTableView* table() const { return table_; }
    // Compares two runs by id (as selecting both rows does); false when either is missing.
    bool compare(int64_t a, int64_t b);
    bool exportTo(const QString& path, bool json);

signals:
    void statusMessage(const QString& text);

protected:
    void showEvent(QShowEvent* event) override;

private:
    void refreshModelFilter();
    void onSelectionChanged();
    void showOverlay();

    AppContext& context_;
    QComboBox* kind_;
    QComboBox* modelFilter_;
    QComboBox* date_;
    QLabel* subtitle_;
    RunTableModel* model_;
    QSortFilterProxyModel* proxy_;
    QStackedWidget* tableStack_;
    QTableView* table_;
    QStackedWidget* compareStack_;
    QLabel* compareTitle_;
    QTableWidget* configDiff_;
    QTableWidget* metricTable_;
    QComboBox* overlaySeries_;
    widgets::LiveChart* overlay_;
    int64_t compareA_ = 0, compareB_ = 0;
};

} // namespace lathe::gui
