#include "RunTableModel.h"

#include <QBrush>
#include <QColor>
#include <QDateTime>

namespace lathe::gui {
namespace {

QString durationText(int64_t ms) {
    if (ms < 1000) return QStringLiteral("%1 ms").arg(ms);
    if (ms < 60000) return QStringLiteral("%1 s").arg(double(ms) / 1000, 0, 'f', 1);
    return QStringLiteral("%1 min %2 s").arg(ms / 60000).arg((ms % 60000) / 1000);
}

QColor statusColor(RunStatus status) {
    switch (status) {
    case RunStatus::Done:
        return {0x2e, 0x7d, 0x32};
    case RunStatus::Running:
        return {0x3b, 0x6f, 0xd8};
    case RunStatus::Failed:
        return {0xc6, 0x28, 0x28};
    case RunStatus::Cancelled:
    case RunStatus::Interrupted:
        return {0xb2, 0x6a, 0x00};
    }
    return {};
}

} // namespace

const RunMetric* RunRow::metric(const std::string& name) const {
    const auto it = metrics.find(name);
    return it == metrics.end() ? nullptr : &it->second;
}

RunTableModel::RunTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void RunTableModel::setRows(std::vector<RunRow> rows) {
    beginResetModel();
    rows_ = std::move(rows);
    endResetModel();
}

const RunRow* RunTableModel::rowAt(int row) const {
    return row >= 0 && row < int(rows_.size()) ? &rows_[size_t(row)] : nullptr;
}

int RunTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(rows_.size());
}

int RunTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant RunTableModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const RunRow& row = rows_[size_t(index.row())];
    const RunRecord& run = row.run;
    const RunMetric* tps = row.metric("decode_tokens_per_s");
    const RunMetric* ttft = row.metric("ttft_ms");
    const RunMetric* tokens = row.metric("generated_tokens");
    const int64_t durationMs = run.endedMs ? *run.endedMs - run.startedMs : -1;
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Id:
            return qlonglong(run.id);
        case Kind:
            return QString::fromUtf8(runKindName(run.kind));
        case Model:
            return run.modelName.empty() ? QStringLiteral("—") : QString::fromStdString(run.modelName);
        case Status:
            return QString::fromUtf8(runStatusName(run.status));
        case Started:
            return QDateTime::fromMSecsSinceEpoch(run.startedMs).toString("yyyy-MM-dd HH:mm:ss");
        case Duration:
            return durationMs >= 0 ? durationText(durationMs) : QStringLiteral("—");
        case TokensPerSecond:
            return tps ? QString::number(tps->value, 'f', 1) : QStringLiteral("—");
        case Ttft:
            return ttft ? QString::number(ttft->value, 'f', 0) : QStringLiteral("—");
        case Tokens:
            return tokens ? QString::number(tokens->value, 'f', 0) : QStringLiteral("—");
        default:
            return {};
        }
    }
    if (role == Qt::UserRole) {
        switch (index.column()) {
        case Id:
            return qlonglong(run.id);
        case Kind:
            return QString::fromUtf8(runKindName(run.kind));
        case Model:
            return QString::fromStdString(run.modelName);
        case Status:
            return QString::fromUtf8(runStatusName(run.status));
        case Started:
            return qlonglong(run.startedMs);
        case Duration:
            return qlonglong(durationMs);
        case TokensPerSecond:
            return tps ? tps->value : -1.0;
        case Ttft:
            return ttft ? ttft->value : -1.0;
        case Tokens:
            return tokens ? tokens->value : -1.0;
        default:
            return {};
        }
    }
    if (role == Qt::ForegroundRole && index.column() == Status) return QBrush(statusColor(run.status));
    if (role == Qt::TextAlignmentRole && index.column() >= Duration)
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::ToolTipRole && !run.error.empty()) return QString::fromStdString(run.error);
    return {};
}

QVariant RunTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case Id:
        return tr("Run");
    case Kind:
        return tr("Kind");
    case Model:
        return tr("Model");
    case Status:
        return tr("Status");
    case Started:
        return tr("Started");
    case Duration:
        return tr("Duration");
    case TokensPerSecond:
        return tr("Tokens/s");
    case Ttft:
        return tr("TTFT (ms)");
    case Tokens:
        return tr("Tokens");
    default:
        return {};
    }
}

} // namespace lathe::gui
