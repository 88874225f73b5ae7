#pragma once
// The run history as a table: one row per run with its headline metrics. Qt::UserRole gives each
// cell's sortable value (numbers as numbers), for a QSortFilterProxyModel with that sort role.

#include "store/RunRecords.h"

#include <QAbstractTableModel>
#include <map>
#include <vector>

namespace lathe::gui {

struct RunRow {
    RunRecord run;
    std::map<std::string, RunMetric> metrics;
    const RunMetric* metric(const std::string& name) const;
};

class RunTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Id, Kind, Model, Status, Started, Duration, TokensPerSecond, Ttft, Tokens, ColumnCount };

    explicit RunTableModel(QObject* parent = nullptr);
    void setRows(std::vector<RunRow> rows);
    const RunRow* rowAt(int row) const;
    const std::vector<RunRow>& rows() const { return rows_; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    std::vector<RunRow> rows_;
};

} // namespace lathe::gui
