#include "RunsPage.h"

#include "AppContext.h"
#include "RunExport.h"
#include "RunTableModel.h"
#include "store/RunStore.h"
#include "widgets/EmptyState.h"
#include "widgets/LiveChart.h"
#include "widgets/Theme.h"

#include <QComboBox>
#include <QDateTime>
#include <QFile>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QStackedWidget>
#include <QTableView>
#include <QTableWidget>
#include <QVBoxLayout>
#include <cmath>

namespace lathe::gui {
namespace {

QString jsonCell(const std::optional<nlohmann::json>& value) {
    if (!value) return QObject::tr("(absent)");
    // Settings stored from floats (0.05f) read back as 0.0500000007: show what the user typed.
    if (value->is_number_float()) return QString::number(value->get<double>(), 'g', 6);
    return QString::fromStdString(value->is_string() ? value->get<std::string>() : value->dump());
}

QTableWidget* makeTable(const QStringList& headers, QWidget* parent) {
    auto* table = new QTableWidget(0, int(headers.size()), parent);
    table->setHorizontalHeaderLabels(headers);
    table->verticalHeader()->setVisible(false);
    table->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    table->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    table->setTextElideMode(Qt::ElideMiddle);
    table->verticalHeader()->setDefaultSectionSize(24);
    table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table->setSelectionMode(QAbstractItemView::NoSelection);
    table->setWordWrap(false);
    return table;
}

QString metricValue(const std::optional<double>& value) {
    if (!value) return QStringLiteral("—");
    return QString::number(*value, 'f', std::abs(*value) >= 100 ? 0 : std::abs(*value) >= 1 ? 2 : 4);
}

} // namespace

RunsPage::RunsPage(AppContext& context, QWidget* parent) : QWidget(parent), context_(context) {
    setObjectName("page");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(24, 20, 24, 16);
    layout->setSpacing(10);

    auto* header = new QHBoxLayout;
    auto* titles = new QVBoxLayout;
    auto* title = new QLabel(tr("Runs"), this);
    widgets::setRole(title, "title");
    subtitle_ = new QLabel(this);
    widgets::setRole(subtitle_, "subtitle");
    titles->addWidget(title);
    titles->addWidget(subtitle_);
    header->addLayout(titles, 1);
    auto* exportCsv = new QPushButton(tr("Export CSV…"), this);
    auto* exportJson = new QPushButton(tr("Export JSON…"), this);
    header->addWidget(exportCsv, 0, Qt::AlignBottom);
    header->addWidget(exportJson, 0, Qt::AlignBottom);
    layout->addLayout(header);

    auto* filters = new QHBoxLayout;
    kind_ = new QComboBox(this);
    kind_->addItem(tr("All kinds"), QString());
    for (RunKind kind : {RunKind::Chat, RunKind::Bench, RunKind::Eval, RunKind::Compress, RunKind::Train})
        kind_->addItem(QString::fromUtf8(runKindName(kind)), QString::fromUtf8(runKindName(kind)));
    modelFilter_ = new QComboBox(this);
    modelFilter_->setMinimumContentsLength(18);
    modelFilter_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    date_ = new QComboBox(this);
    date_->addItem(tr("Any time"), 0);
    date_->addItem(tr("Today"), 1);
    date_->addItem(tr("Last 7 days"), 7);
    date_->addItem(tr("Last 30 days"), 30);
    auto* refreshButton = new QPushButton(tr("Refresh"), this);
    filters->addWidget(new QLabel(tr("Kind"), this));
    filters->addWidget(kind_);
    filters->addSpacing(8);
    filters->addWidget(new QLabel(tr("Model"), this));
    filters->addWidget(modelFilter_);
    filters->addSpacing(8);
    filters->addWidget(new QLabel(tr("Started"), this));
    filters->addWidget(date_);
    filters->addStretch(1);
    auto* hint = new QLabel(tr("Select two runs to compare them"), this);
    widgets::setRole(hint, "muted");
    filters->addWidget(hint);
    filters->addWidget(refreshButton);
    layout->addLayout(filters);

    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->setObjectName("runsSplitter");
    splitter->setChildrenCollapsible(false);
    tableStack_ = new QStackedWidget(splitter);
    auto* emptyRuns = new widgets::EmptyState(tableStack_);
    emptyRuns->setContent(tr("No runs match"),
                          tr("Every chat reply and benchmark is recorded here. Chat with a model "
                             "or run a benchmark from the Models page."));
    model_ = new RunTableModel(this);
    proxy_ = new QSortFilterProxyModel(this);
    proxy_->setSourceModel(model_);
    proxy_->setSortRole(Qt::UserRole);
    table_ = new QTableView(tableStack_);
    table_->setModel(proxy_);
    table_->setSortingEnabled(true);
    table_->sortByColumn(RunTableModel::Id, Qt::DescendingOrder);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::ExtendedSelection);
    table_->setAlternatingRowColors(true);
    table_->verticalHeader()->setVisible(false);
    table_->verticalHeader()->setDefaultSectionSize(26);
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->horizontalHeader()->setSectionResizeMode(RunTableModel::Model, QHeaderView::Stretch);
    table_->horizontalHeader()->setStretchLastSection(false);
    tableStack_->addWidget(table_);
    tableStack_->addWidget(emptyRuns);
    splitter->addWidget(tableStack_);

    compareStack_ = new QStackedWidget(splitter);
    auto* emptyCompare = new widgets::EmptyState(compareStack_);
    emptyCompare->setContent(tr("Compare two runs"),
                             tr("Select two rows above (Ctrl+click) to see their configuration "
                                "differences, metrics and time series side by side."));
    compareStack_->addWidget(emptyCompare);
    auto* comparison = new QWidget(compareStack_);
    auto* compareLayout = new QVBoxLayout(comparison);
    compareLayout->setContentsMargins(0, 8, 0, 0);
    compareTitle_ = new QLabel(comparison);
    compareTitle_->setStyleSheet("font-weight: 600; font-size: 14px;");
    compareLayout->addWidget(compareTitle_);
    auto* panes = new QHBoxLayout;
    configDiff_ = makeTable({tr("Differs"), tr("Run A"), tr("Run B")}, comparison);
    metricTable_ = makeTable({tr("Metric"), tr("Run A"), tr("Run B"), tr("B vs A")}, comparison);
    metricTable_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    metricTable_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    auto* overlayBox = new QVBoxLayout;
    overlaySeries_ = new QComboBox(comparison);
    overlay_ = new widgets::LiveChart(tr("Time series"), QString(), comparison);
    overlay_->addSeries("a", tr("Run A"), widgets::theme::kAccent);
    overlay_->addSeries("b", tr("Run B"), widgets::theme::kSeriesB);
    overlay_->setXTitle(tr("seconds since the run started"));
    overlayBox->addWidget(overlaySeries_);
    overlayBox->addWidget(overlay_, 1);
    panes->addWidget(configDiff_, 4);
    panes->addWidget(metricTable_, 3);
    panes->addLayout(overlayBox, 3);
    compareLayout->addLayout(panes, 1);
    compareStack_->addWidget(comparison);
    splitter->addWidget(compareStack_);
    splitter->setStretchFactor(0, 2);
    splitter->setStretchFactor(1, 3);
    splitter->setSizes({280, 420});
    layout->addWidget(splitter, 1);

    for (QComboBox* box : {kind_, modelFilter_, date_})
        connect(box, &QComboBox::currentIndexChanged, this, &RunsPage::refresh);
    connect(refreshButton, &QPushButton::clicked, this, &RunsPage::refresh);
    connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &RunsPage::onSelectionChanged);
    connect(overlaySeries_, &QComboBox::currentIndexChanged, this, &RunsPage::showOverlay);
    connect(exportCsv, &QPushButton::clicked, this, [this] {
        const QString path =
            QFileDialog::getSaveFileName(this, tr("Export runs"), "lathe-runs.csv", tr("CSV (*.csv)"));
        if (!path.isEmpty()) exportTo(path, false);
    });
    connect(exportJson, &QPushButton::clicked, this, [this] {
        const QString path =
            QFileDialog::getSaveFileName(this, tr("Export runs"), "lathe-runs.json", tr("JSON (*.json)"));
        if (!path.isEmpty()) exportTo(path, true);
    });
    refreshModelFilter();
    refresh();
}

void RunsPage::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    refreshModelFilter();
    refresh();
}

void RunsPage::refreshModelFilter() {
    const QVariant current = modelFilter_->currentData();
    QSignalBlocker block(modelFilter_);
    modelFilter_->clear();
    modelFilter_->addItem(tr("All models"), qlonglong(0));
    try {
        for (const ModelRecord& m : context_.store().listModels())
            modelFilter_->addItem(QString::fromStdString(m.name), qlonglong(m.id));
    } catch (const std::exception&) {
        // the table reports store errors
    }
    const int index = modelFilter_->findData(current);
    modelFilter_->setCurrentIndex(index >= 0 ? index : 0);
}

void RunsPage::refresh() {
    RunQuery query;
    query.limit = 1000;
    if (const QString kind = kind_->currentData().toString(); !kind.isEmpty())
        query.filter.kind = parseRunKind(kind.toStdString());
    if (const qlonglong model = modelFilter_->currentData().toLongLong(); model > 0)
        query.filter.modelId = model;
    if (const int days = date_->currentData().toInt(); days > 0) {
        const QDateTime from = QDateTime(QDate::currentDate().addDays(1 - days), QTime(0, 0));
        query.filter.startedFromMs = from.toMSecsSinceEpoch();
    }
    std::vector<RunRow> rows;
    try {
        for (RunRecord& run : context_.store().listRuns(query)) {
            RunRow row;
            for (RunMetric& metric : context_.store().metrics(run.id))
                row.metrics[metric.name] = std::move(metric);
            row.run = std::move(run);
            rows.push_back(std::move(row));
        }
    } catch (const std::exception& e) {
        emit statusMessage(tr("Could not read runs: %1").arg(QString::fromStdString(e.what())));
    }
    const int count = int(rows.size());
    model_->setRows(std::move(rows));
    subtitle_->setText(count == 0   ? tr("No runs recorded yet")
                       : count == 1 ? tr("1 run")
                                    : tr("%1 runs").arg(count));
    tableStack_->setCurrentIndex(count == 0 ? 1 : 0);
    table_->resizeColumnsToContents();
    table_->horizontalHeader()->setSectionResizeMode(RunTableModel::Model, QHeaderView::Stretch);
    if (compareA_ && compareB_) compare(compareA_, compareB_);
}

void RunsPage::onSelectionChanged() {
    const QModelIndexList rows = table_->selectionModel()->selectedRows();
    if (rows.size() != 2) {
        compareStack_->setCurrentIndex(0);
        compareA_ = compareB_ = 0;
        return;
    }
    const RunRow* a = model_->rowAt(proxy_->mapToSource(rows[0]).row());
    const RunRow* b = model_->rowAt(proxy_->mapToSource(rows[1]).row());
    if (a && b) compare(std::min(a->run.id, b->run.id), std::max(a->run.id, b->run.id));
}

bool RunsPage::compare(int64_t a, int64_t b) {
    RunComparison c;
    try {
        c = context_.store().compareRuns(a, b);
    } catch (const std::exception& e) {
        emit statusMessage(tr("Could not compare: %1").arg(QString::fromStdString(e.what())));
        return false;
    }
    compareA_ = a;
    compareB_ = b;
    compareTitle_->setText(tr("Run A #%1 (%2, %3)   vs   Run B #%4 (%5, %6)")
                               .arg(a)
                               .arg(runKindName(c.a.kind))
                               .arg(QString::fromStdString(c.a.modelName))
                               .arg(b)
                               .arg(runKindName(c.b.kind))
                               .arg(QString::fromStdString(c.b.modelName)));
    configDiff_->setRowCount(0);
    auto addDiffs = [this](const std::vector<ConfigDifference>& diffs, const QString& prefix) {
        for (const ConfigDifference& d : diffs) {
            const int row = configDiff_->rowCount();
            configDiff_->insertRow(row);
            const QStringList cells = {prefix + QString::fromStdString(d.key), jsonCell(d.a), jsonCell(d.b)};
            for (int col = 0; col < 3; ++col) {
                auto* item = new QTableWidgetItem(cells[col]);
                item->setToolTip(cells[col]);
                item->setBackground(widgets::theme::kDiffHighlight);
                configDiff_->setItem(row, col, item);
            }
        }
    };
    addDiffs(c.configDifferences, tr("config "));
    addDiffs(c.environmentDifferences, tr("environment "));
    if (configDiff_->rowCount() == 0) {
        configDiff_->insertRow(0);
        configDiff_->setItem(0, 0, new QTableWidgetItem(tr("Same configuration and environment")));
    }

    metricTable_->setRowCount(0);
    for (const MetricPair& m : c.metrics) {
        const int row = metricTable_->rowCount();
        metricTable_->insertRow(row);
        QString delta = QStringLiteral("—");
        if (m.a && m.b && *m.a != 0)
            delta =
                QStringLiteral("%1%2 %").arg(*m.b >= *m.a ? "+" : "").arg((*m.b / *m.a - 1) * 100, 0, 'f', 1);
        const QStringList cells = {
            QString::fromStdString(m.name) +
                (m.unit.empty() ? QString() : QStringLiteral(" (%1)").arg(QString::fromStdString(m.unit))),
            metricValue(m.a), metricValue(m.b), delta};
        for (int col = 0; col < 4; ++col)
            metricTable_->setItem(row, col, new QTableWidgetItem(cells[col]));
    }

    QStringList series;
    try {
        for (int64_t id : {a, b})
            for (const std::string& name : context_.store().sampleSeries(id))
                if (!series.contains(QString::fromStdString(name)))
                    series.append(QString::fromStdString(name));
    } catch (const std::exception&) {
    }
    series.sort();
    const QString previous = overlaySeries_->currentText();
    {
        QSignalBlocker block(overlaySeries_);
        overlaySeries_->clear();
        overlaySeries_->addItems(series);
        const int keep = overlaySeries_->findText(previous.isEmpty() ? QStringLiteral("itl_ms") : previous);
        overlaySeries_->setCurrentIndex(keep >= 0 ? keep : 0);
    }
    showOverlay();
    compareStack_->setCurrentIndex(1);
    return true;
}

void RunsPage::showOverlay() {
    const std::string series = overlaySeries_->currentText().toStdString();
    double maxT = 1;
    for (const auto& [key, id] :
         {std::pair{QStringLiteral("a"), compareA_}, std::pair{QStringLiteral("b"), compareB_}}) {
        QList<QPointF> points;
        if (!series.empty() && id > 0) {
            try {
                for (const RunSample& s : context_.store().samples(id, series, 0, 20000)) {
                    points.append(QPointF(s.t, s.value));
                    maxT = std::max(maxT, s.t);
                }
            } catch (const std::exception&) {
            }
        }
        overlay_->setPoints(key, points);
    }
    overlay_->setXRange(0, maxT);
    overlay_->setUnavailable(series.empty() ? tr("Neither run recorded a time series") : QString());
}

bool RunsPage::exportTo(const QString& path, bool json) {
    const std::string text = json ? runsToJson(model_->rows()) : runsToCsv(model_->rows());
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) ||
        file.write(text.data(), qint64(text.size())) != qint64(text.size())) {
        emit statusMessage(tr("Could not write %1: %2").arg(path, file.errorString()));
        return false;
    }
    emit statusMessage(tr("Exported %1 runs to %2").arg(model_->rows().size()).arg(path));
    return true;
}

} // namespace lathe::gui
