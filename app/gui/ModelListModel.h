#pragma once
// The models of the library, as a list: name on the first line, format, size and parameters under it.

#include "store/RunRecords.h"

#include <QAbstractListModel>
#include <vector>

namespace lathe::gui {

class ModelListModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role { IdRole = Qt::UserRole + 1, PathRole, SubtitleRole };

    explicit ModelListModel(QObject* parent = nullptr);
    void setModels(std::vector<ModelRecord> models);
    const ModelRecord* modelAt(int row) const;
    int rowOfId(int64_t id) const;
    int rowOfPath(const QString& path) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;

private:
    std::vector<ModelRecord> models_;
};

QString humanBytes(double bytes);
QString humanCount(double count); // 134.5 M, 7.2 B

} // namespace lathe::gui
