#pragma once
// Variants beside their parent: the parent model first, then each variant made from it with its size,
// perplexity, KL divergence and top-1 agreement against the parent, decode speed and peak memory.
// Rows come from a VariantResult just built or from a `compress` run in the store (its metrics and
// config). Qt::UserRole gives each cell's value as a number (or the text where there is none).

#include "store/RunRecords.h"

#include <QAbstractTableModel>
#include <QString>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

namespace lathe {
struct Recipe;
struct VariantResult;
} // namespace lathe

namespace lathe::gui {

struct VariantRow {
    bool isParent = false;
    QString path;              // the model file
    QString recipe;            // the steps, "as stored" for the parent
    nlohmann::json recipeJson; // Recipe::toJson() (null for the parent)
    std::optional<int64_t> runId;
    int64_t createdMs = 0;
    std::optional<double> bytes, parentBytes;
    std::optional<double> perplexity, perplexityError;
    std::optional<double> klDivergence, top1Agreement;
    std::optional<double> tokensPerSecond, parentTokensPerSecond;
    std::optional<double> peakRssBytes;
    QString notes; // what the steps decided, one per line

    bool fileExists() const;
};

// A variant just built (VariantResult.parent gives the parent's figures: see parentRowFromResult).
VariantRow variantRowFromResult(const VariantResult& result, const Recipe& recipe);
VariantRow parentRowFromResult(const QString& parentPath, const VariantResult& result);
// A `compress` run of the store: config {"recipe", "output"}, metrics output_bytes, input_bytes,
// perplexity, perplexity_error, kl_divergence, top1_agreement, tokens_per_second,
// base_tokens_per_second, peak_rss_bytes. nullopt when the run names no output.
std::optional<VariantRow> variantRowFromRun(const RunRecord& run, const std::vector<RunMetric>& metrics);
// The parent's figures measured by that run (base_perplexity, base_tokens_per_second, input_bytes).
VariantRow parentRowFromRun(const QString& parentPath, const RunRecord& run,
                            const std::vector<RunMetric>& metrics);

class VariantTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        NameColumn,
        RecipeColumn,
        SizeColumn,
        PerplexityColumn,
        KlColumn,
        Top1Column,
        SpeedColumn,
        MemoryColumn,
        ColumnCount
    };
    enum Role { PathRole = Qt::UserRole + 1, IsParentRole };

    explicit VariantTableModel(QObject* parent = nullptr);
    // rows[0] is the parent when there is one; each variant's ratios use its own parentBytes and
    // parentTokensPerSecond, else the parent row's.
    void setRows(std::vector<VariantRow> rows);
    const VariantRow* rowAt(int row) const;
    const std::vector<VariantRow>& rows() const { return rows_; }
    // The row of a variant file, -1 when none.
    int rowOfPath(const QString& path) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    std::optional<double> parentBytesOf(const VariantRow& row) const;
    std::optional<double> parentSpeedOf(const VariantRow& row) const;

    std::vector<VariantRow> rows_;
};

} // namespace lathe::gui
