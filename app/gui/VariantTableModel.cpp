#include "VariantTableModel.h"

#include "compress/Recipe.h"
#include "workbench/VariantBuilder.h"

#include <QBrush>
#include <QDateTime>
#include <QFileInfo>
#include <QFont>
#include <QStringList>
#include <map>

namespace lathe::gui {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

QString mib(double bytes) {
    const double m = bytes / kMiB;
    return QStringLiteral("%1 MiB").arg(m, 0, 'f', m < 10 ? 2 : 1);
}

QString dash() {
    return QStringLiteral("—");
}

std::optional<double> positive(double value) {
    return value > 0 ? std::optional<double>(value) : std::nullopt;
}

std::optional<double> metricOf(const std::map<std::string, double>& metrics, const char* name) {
    const auto it = metrics.find(name);
    return it == metrics.end() ? std::nullopt : std::optional<double>(it->second);
}

std::map<std::string, double> metricMap(const std::vector<RunMetric>& metrics) {
    std::map<std::string, double> map;
    for (const RunMetric& m : metrics)
        map[m.name] = m.value;
    return map;
}

QString notesText(const std::vector<std::string>& notes) {
    QStringList lines;
    for (const std::string& n : notes)
        lines.append(QString::fromStdString(n));
    return lines.join('\n');
}

} // namespace

bool VariantRow::fileExists() const {
    return !path.isEmpty() && QFileInfo::exists(path);
}

VariantRow variantRowFromResult(const VariantResult& result, const Recipe& recipe) {
    VariantRow row;
    row.path = QString::fromStdString(result.path.string());
    row.recipe = QString::fromStdString(recipe.describe());
    row.recipeJson = recipe.toJson();
    row.runId = result.runId;
    row.createdMs = nowEpochMs();
    row.bytes =
        positive(double(result.variant.fileBytes ? result.variant.fileBytes : result.report.outputBytes));
    row.parentBytes =
        positive(double(result.parent.fileBytes ? result.parent.fileBytes : result.report.inputBytes));
    row.perplexity = positive(result.variant.perplexity);
    if (row.perplexity) row.perplexityError = result.variant.perplexityError;
    if (result.parent.perplexity > 0) {
        row.klDivergence = result.klDivergence;
        row.top1Agreement = result.top1Agreement;
    }
    row.tokensPerSecond = positive(result.variant.tokensPerSecond);
    row.parentTokensPerSecond = positive(result.parent.tokensPerSecond);
    row.peakRssBytes = positive(double(result.variant.peakRssBytes));
    row.notes = notesText(result.report.notes);
    return row;
}

VariantRow parentRowFromResult(const QString& parentPath, const VariantResult& result) {
    VariantRow row;
    row.isParent = true;
    row.path = parentPath;
    row.runId = result.runId;
    row.createdMs = nowEpochMs();
    row.bytes =
        positive(double(result.parent.fileBytes ? result.parent.fileBytes : result.report.inputBytes));
    row.perplexity = positive(result.parent.perplexity);
    if (row.perplexity) row.perplexityError = result.parent.perplexityError;
    row.tokensPerSecond = positive(result.parent.tokensPerSecond);
    row.peakRssBytes = positive(double(result.parent.peakRssBytes));
    return row;
}

std::optional<VariantRow> variantRowFromRun(const RunRecord& run, const std::vector<RunMetric>& metrics) {
    const nlohmann::json& config = run.config;
    if (!config.is_object() || !config.contains("output") || !config["output"].is_string())
        return std::nullopt;
    const std::map<std::string, double> m = metricMap(metrics);
    VariantRow row;
    row.path = QString::fromStdString(config["output"].get<std::string>());
    row.runId = run.id;
    row.createdMs = run.startedMs;
    if (const auto it = config.find("recipe"); it != config.end() && it->is_object()) {
        row.recipeJson = *it;
        try {
            row.recipe = QString::fromStdString(Recipe::fromJson(*it).describe());
        } catch (const std::exception&) {
            row.recipe = QString::fromStdString(it->value("name", std::string()));
        }
    }
    row.bytes = metricOf(m, "output_bytes");
    row.parentBytes = metricOf(m, "input_bytes");
    row.perplexity = metricOf(m, "perplexity");
    row.perplexityError = metricOf(m, "perplexity_error");
    row.klDivergence = metricOf(m, "kl_divergence");
    row.top1Agreement = metricOf(m, "top1_agreement");
    row.tokensPerSecond = metricOf(m, "decode_tokens_per_s");
    row.parentTokensPerSecond = metricOf(m, "base_decode_tokens_per_s");
    row.peakRssBytes = metricOf(m, "peak_rss_bytes");
    return row;
}

VariantRow parentRowFromRun(const QString& parentPath, const RunRecord& run,
                            const std::vector<RunMetric>& metrics) {
    const std::map<std::string, double> m = metricMap(metrics);
    VariantRow row;
    row.isParent = true;
    row.path = parentPath;
    row.runId = run.id;
    row.createdMs = run.startedMs;
    row.bytes = metricOf(m, "input_bytes");
    row.perplexity = metricOf(m, "base_perplexity");
    row.tokensPerSecond = metricOf(m, "base_decode_tokens_per_s");
    return row;
}

VariantTableModel::VariantTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void VariantTableModel::setRows(std::vector<VariantRow> rows) {
    beginResetModel();
    rows_ = std::move(rows);
    endResetModel();
}

const VariantRow* VariantTableModel::rowAt(int row) const {
    return row >= 0 && row < int(rows_.size()) ? &rows_[size_t(row)] : nullptr;
}

int VariantTableModel::rowOfPath(const QString& path) const {
    for (size_t i = 0; i < rows_.size(); ++i)
        if (!rows_[i].isParent && QFileInfo(rows_[i].path) == QFileInfo(path)) return int(i);
    return -1;
}

int VariantTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(rows_.size());
}

int VariantTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

std::optional<double> VariantTableModel::parentBytesOf(const VariantRow& row) const {
    if (row.parentBytes) return row.parentBytes;
    if (!rows_.empty() && rows_[0].isParent) return rows_[0].bytes;
    return std::nullopt;
}

std::optional<double> VariantTableModel::parentSpeedOf(const VariantRow& row) const {
    if (row.parentTokensPerSecond) return row.parentTokensPerSecond;
    if (!rows_.empty() && rows_[0].isParent) return rows_[0].tokensPerSecond;
    return std::nullopt;
}

QVariant VariantTableModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const VariantRow& row = rows_[size_t(index.row())];
    const std::optional<double> parentBytes = parentBytesOf(row);
    const std::optional<double> parentSpeed = parentSpeedOf(row);
    const bool missing = !row.fileExists();
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case NameColumn: {
            const QString name = QFileInfo(row.path).fileName();
            return row.isParent ? tr("%1 (parent)").arg(name) : name;
        }
        case RecipeColumn:
            return row.isParent ? tr("as stored") : row.recipe;
        case SizeColumn:
            if (!row.bytes) return dash();
            if (!parentBytes || *parentBytes <= 0 || row.isParent) return mib(*row.bytes);
            return QStringLiteral("%1 · %2 %")
                .arg(mib(*row.bytes))
                .arg(100.0 * *row.bytes / *parentBytes, 0, 'f', 0);
        case PerplexityColumn:
            if (!row.perplexity) return dash();
            if (!row.perplexityError) return QString::number(*row.perplexity, 'f', 3);
            return QStringLiteral("%1 ± %2")
                .arg(*row.perplexity, 0, 'f', 3)
                .arg(*row.perplexityError, 0, 'f', 3);
        case KlColumn:
            return row.klDivergence ? QString::number(*row.klDivergence, 'f', 4) : dash();
        case Top1Column:
            return row.top1Agreement ? QStringLiteral("%1 %").arg(100.0 * *row.top1Agreement, 0, 'f', 1)
                                     : dash();
        case SpeedColumn:
            if (!row.tokensPerSecond) return dash();
            if (row.isParent || !parentSpeed || *parentSpeed <= 0)
                return QString::number(*row.tokensPerSecond, 'f', 1);
            return QStringLiteral("%1 · %2×")
                .arg(*row.tokensPerSecond, 0, 'f', 1)
                .arg(*row.tokensPerSecond / *parentSpeed, 0, 'f', 2);
        case MemoryColumn:
            return row.peakRssBytes ? mib(*row.peakRssBytes) : dash();
        default:
            return {};
        }
    }
    if (role == Qt::UserRole) {
        auto number = [](const std::optional<double>& v) { return v ? QVariant(*v) : QVariant(); };
        switch (index.column()) {
        case NameColumn:
            return QFileInfo(row.path).fileName();
        case RecipeColumn:
            return row.recipe;
        case SizeColumn:
            return number(row.bytes);
        case PerplexityColumn:
            return number(row.perplexity);
        case KlColumn:
            return number(row.klDivergence);
        case Top1Column:
            return number(row.top1Agreement);
        case SpeedColumn:
            return number(row.tokensPerSecond);
        case MemoryColumn:
            return number(row.peakRssBytes);
        default:
            return {};
        }
    }
    if (role == PathRole) return row.path;
    if (role == IsParentRole) return row.isParent;
    if (role == Qt::FontRole && row.isParent) {
        QFont font;
        font.setBold(true);
        return font;
    }
    if (role == Qt::ForegroundRole && missing) return QBrush(QColor(0x9a, 0xa1, 0xaa));
    if (role == Qt::TextAlignmentRole && index.column() >= SizeColumn)
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::ToolTipRole) {
        if (index.column() == SizeColumn && row.bytes && parentBytes && !row.isParent)
            return tr("%L1 bytes, %2 % of the parent's %L3")
                .arg(qlonglong(*row.bytes))
                .arg(100.0 * *row.bytes / *parentBytes, 0, 'f', 1)
                .arg(qlonglong(*parentBytes));
        QStringList lines{row.path};
        if (missing) lines.append(tr("The file is no longer there."));
        if (row.runId)
            lines.append(
                tr("Run #%1, %2")
                    .arg(*row.runId)
                    .arg(QDateTime::fromMSecsSinceEpoch(row.createdMs).toString("yyyy-MM-dd HH:mm")));
        if (!row.notes.isEmpty()) lines.append(row.notes);
        return lines.join('\n');
    }
    return {};
}

QVariant VariantTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case SizeColumn:
            return tr("File size, and its share of the parent's");
        case PerplexityColumn:
            return tr("Perplexity over the evaluation text ± its standard error (lower is better)");
        case KlColumn:
            return tr("Mean KL(parent ‖ variant) over the scored tokens, in nats (0: the same predictions)");
        case Top1Column:
            return tr("Share of scored tokens where both models' most likely token agree");
        case SpeedColumn:
            return tr("Decode tokens per second, and the ratio to the parent");
        case MemoryColumn:
            return tr("Peak resident memory of the process while decoding");
        default:
            return {};
        }
    }
    if (role != Qt::DisplayRole) return {};
    switch (section) {
    case NameColumn:
        return tr("Model file");
    case RecipeColumn:
        return tr("Recipe");
    case SizeColumn:
        return tr("Size");
    case PerplexityColumn:
        return tr("Perplexity");
    case KlColumn:
        return tr("KL div.");
    case Top1Column:
        return tr("Top-1");
    case SpeedColumn:
        return tr("Tokens/s");
    case MemoryColumn:
        return tr("Peak memory");
    default:
        return {};
    }
}

} // namespace lathe::gui
