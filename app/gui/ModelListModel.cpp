#include "ModelListModel.h"

#include <QFileInfo>

namespace lathe::gui {

QString humanBytes(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    while (bytes >= 1024 && unit < 4) {
        bytes /= 1024;
        ++unit;
    }
    return QStringLiteral("%1 %2").arg(bytes, 0, 'f', unit == 0 ? 0 : 1).arg(units[unit]);
}

QString humanCount(double count) {
    if (count >= 1e9) return QStringLiteral("%1 B").arg(count / 1e9, 0, 'f', 2);
    if (count >= 1e6) return QStringLiteral("%1 M").arg(count / 1e6, 0, 'f', 1);
    if (count >= 1e3) return QStringLiteral("%1 K").arg(count / 1e3, 0, 'f', 1);
    return QString::number(count, 'f', 0);
}

ModelListModel::ModelListModel(QObject* parent) : QAbstractListModel(parent) {}

void ModelListModel::setModels(std::vector<ModelRecord> models) {
    beginResetModel();
    models_ = std::move(models);
    endResetModel();
}

const ModelRecord* ModelListModel::modelAt(int row) const {
    return row >= 0 && row < int(models_.size()) ? &models_[size_t(row)] : nullptr;
}

int ModelListModel::rowOfId(int64_t id) const {
    for (size_t i = 0; i < models_.size(); ++i)
        if (models_[i].id == id) return int(i);
    return -1;
}

int ModelListModel::rowOfPath(const QString& path) const {
    for (size_t i = 0; i < models_.size(); ++i)
        if (QString::fromStdString(models_[i].path) == path) return int(i);
    return -1;
}

int ModelListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(models_.size());
}

QVariant ModelListModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const ModelRecord& m = models_[size_t(index.row())];
    const QString name = m.name.empty() ? QFileInfo(QString::fromStdString(m.path)).fileName()
                                        : QString::fromStdString(m.name);
    const QString subtitle = QStringLiteral("%1 · %2 · %3 params")
                                 .arg(QString::fromStdString(m.architecture), humanBytes(double(m.fileBytes)),
                                      humanCount(double(m.parameterCount)));
    switch (role) {
    case Qt::DisplayRole:
        return QStringLiteral("%1\n%2").arg(name, subtitle);
    case Qt::ToolTipRole:
        return QString::fromStdString(m.path);
    case IdRole:
        return qlonglong(m.id);
    case PathRole:
        return QString::fromStdString(m.path);
    case SubtitleRole:
        return subtitle;
    default:
        return {};
    }
}

} // namespace lathe::gui
