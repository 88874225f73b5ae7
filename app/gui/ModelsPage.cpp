#include "ModelsPage.h"

#include "AppContext.h"
#include "EngineWorker.h"
#include "ModelListModel.h"
#include "store/RunStore.h"
#include "widgets/DropZone.h"
#include "widgets/EmptyState.h"
#include "widgets/ErrorBanner.h"
#include "widgets/KeyValueCard.h"
#include "widgets/Theme.h"

#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QListView>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QStackedWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace lathe::gui {
namespace {

QString jsonText(const nlohmann::json& json, const char* key) {
    const auto it = json.find(key);
    if (it == json.end() || it->is_null()) return QStringLiteral("—");
    if (it->is_string()) return QString::fromStdString(it->get<std::string>());
    if (it->is_boolean()) return it->get<bool>() ? QObject::tr("yes") : QObject::tr("no");
    return QString::fromStdString(it->dump());
}

QSpinBox* spin(int lo, int hi, int value, QWidget* parent) {
    auto* box = new QSpinBox(parent);
    box->setRange(lo, hi);
    box->setValue(value);
    return box;
}

} // namespace

ModelsPage::ModelsPage(AppContext& context, QWidget* parent) : QWidget(parent), context_(context) {
    setObjectName("page");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(24, 20, 24, 16);
    layout->setSpacing(12);

    auto* header = new QHBoxLayout;
    auto* titles = new QVBoxLayout;
    auto* title = new QLabel(tr("Models"), this);
    widgets::setRole(title, "title");
    subtitle_ = new QLabel(this);
    widgets::setRole(subtitle_, "subtitle");
    titles->addWidget(title);
    titles->addWidget(subtitle_);
    header->addLayout(titles, 1);
    auto* openFile = new QPushButton(tr("Open model file…"), this);
    auto* openFolder = new QPushButton(tr("Open model folder…"), this);
    header->addWidget(openFile, 0, Qt::AlignBottom);
    header->addWidget(openFolder, 0, Qt::AlignBottom);
    layout->addLayout(header);

    dropZone_ = new widgets::DropZone(this);
    dropZone_->setFixedHeight(78);
    layout->addWidget(dropZone_);

    errorBanner_ = new widgets::ErrorBanner(this);
    layout->addWidget(errorBanner_);

    auto* splitter = new QSplitter(Qt::Horizontal, this);
    splitter->setObjectName("modelsSplitter");
    splitter->setChildrenCollapsible(false);
    model_ = new ModelListModel(this);
    list_ = new QListView(splitter);
    list_->setObjectName("modelList");
    list_->setModel(model_);
    list_->setMinimumWidth(240);
    list_->setSpacing(2);
    list_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    list_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    list_->setTextElideMode(Qt::ElideRight);
    splitter->addWidget(list_);

    auto* scroll = new QScrollArea(splitter);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    detailStack_ = new QStackedWidget(scroll);
    emptyDetail_ = new widgets::EmptyState(detailStack_);
    emptyDetail_->setContent(
        tr("No model selected"),
        tr("Drop a .gguf file or a Hugging Face model folder anywhere on the window, or use "
           "Open model file…"));
    detailStack_->addWidget(emptyDetail_);

    auto* card = new QWidget(detailStack_);
    auto* cardLayout = new QVBoxLayout(card);
    cardLayout->setContentsMargins(12, 0, 4, 0);
    cardLayout->setSpacing(10);
    cardTitle_ = new QLabel(card);
    cardTitle_->setStyleSheet("font-size: 18px; font-weight: 600;");
    cardSubtitle_ = new QLabel(card);
    widgets::setRole(cardSubtitle_, "muted");
    cardSubtitle_->setWordWrap(true);
    cardSubtitle_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    cardLayout->addWidget(cardTitle_);
    cardLayout->addWidget(cardSubtitle_);
    auto* actions = new QHBoxLayout;
    chatButton_ = new QPushButton(tr("Chat with this model"), card);
    chatButton_->setProperty("accent", true);
    benchButton_ = new QPushButton(tr("Benchmark"), card);
    removeButton_ = new QPushButton(tr("Remove from library"), card);
    removeButton_->setProperty("danger", true);
    actions->addWidget(chatButton_);
    actions->addWidget(benchButton_);
    actions->addStretch(1);
    actions->addWidget(removeButton_);
    cardLayout->addLayout(actions);
    auto* cards = new QHBoxLayout;
    cards->setSpacing(10);
    overview_ = new widgets::KeyValueCard(tr("Overview"), card);
    architecture_ = new widgets::KeyValueCard(tr("Architecture"), card);
    cards->addWidget(overview_, 1);
    cards->addWidget(architecture_, 1);
    cardLayout->addLayout(cards);
    tensors_ = new widgets::KeyValueCard(tr("Tensor types"), card);
    cardLayout->addWidget(tensors_);

    auto* bench = new QFrame(card);
    widgets::makeCard(bench);
    auto* benchLayout = new QVBoxLayout(bench);
    benchLayout->setContentsMargins(16, 12, 16, 12);
    auto* benchTitle = new QLabel(tr("Benchmark"), bench);
    benchTitle->setStyleSheet("font-weight: 600; font-size: 14px;");
    benchLayout->addWidget(benchTitle);
    auto* benchHint =
        new QLabel(tr("A measured generation: prompt processing (pp) and text generation (tg) speed, "
                      "greedy, repeated. The result is stored as a run."),
                   bench);
    benchHint->setWordWrap(true);
    widgets::setRole(benchHint, "muted");
    benchLayout->addWidget(benchHint);
    auto* benchRow = new QHBoxLayout;
    benchPrompt_ = spin(2, 8192, 128, bench);
    benchGenerated_ = spin(1, 4096, 32, bench);
    benchReps_ = spin(1, 50, 3, bench);
    benchRow->addWidget(new QLabel(tr("Prompt tokens"), bench));
    benchRow->addWidget(benchPrompt_);
    benchRow->addSpacing(12);
    benchRow->addWidget(new QLabel(tr("Generated tokens"), bench));
    benchRow->addWidget(benchGenerated_);
    benchRow->addSpacing(12);
    benchRow->addWidget(new QLabel(tr("Repetitions"), bench));
    benchRow->addWidget(benchReps_);
    benchRow->addStretch(1);
    benchLayout->addLayout(benchRow);
    auto* progressRow = new QHBoxLayout;
    benchProgress_ = new QProgressBar(bench);
    benchProgress_->setRange(0, 1000);
    benchProgress_->setTextVisible(false);
    benchCancel_ = new QPushButton(tr("Cancel"), bench);
    progressRow->addWidget(benchProgress_, 1);
    progressRow->addWidget(benchCancel_);
    benchLayout->addLayout(progressRow);
    benchResult_ = new QLabel(tr("No benchmark run yet for this session."), bench);
    benchResult_->setWordWrap(true);
    benchResult_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    benchLayout->addWidget(benchResult_);
    benchProgress_->setVisible(false);
    benchCancel_->setVisible(false);
    cardLayout->addWidget(bench);
    cardLayout->addStretch(1);
    detailStack_->addWidget(card);
    scroll->setWidget(detailStack_);
    splitter->addWidget(scroll);
    splitter->setStretchFactor(0, 0);
    splitter->setStretchFactor(1, 1);
    splitter->setSizes({300, 900});
    layout->addWidget(splitter, 1);

    connect(dropZone_, &widgets::DropZone::pathsDropped, this, &ModelsPage::addModelPaths);
    auto browseFile = [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open a model"), {},
                                                          tr("GGUF models (*.gguf);;All files (*)"));
        if (!path.isEmpty()) addModelPaths({path});
    };
    connect(dropZone_, &widgets::DropZone::browseRequested, this, browseFile);
    connect(openFile, &QPushButton::clicked, this, browseFile);
    connect(openFolder, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getExistingDirectory(this, tr("Open a Hugging Face model folder"));
        if (!path.isEmpty()) addModelPaths({path});
    });
    connect(list_->selectionModel(), &QItemSelectionModel::currentChanged, this, [this] { showCard(); });
    connect(model_, &QAbstractItemModel::modelReset, this, [this] { showCard(); });
    connect(chatButton_, &QPushButton::clicked, this, [this] {
        if (const auto id = selectedModelId()) emit chatRequested(*id);
    });
    connect(benchButton_, &QPushButton::clicked, this, &ModelsPage::startBenchmark);
    connect(benchCancel_, &QPushButton::clicked, this, [this] { context_.worker().stop(); });
    connect(removeButton_, &QPushButton::clicked, this, &ModelsPage::removeSelected);
    connect(
        &context_.worker(), &EngineWorker::benchProgress, this,
        [this](quint64 job, double fraction, const QString& stage) {
            if (job != benchJob_) return;
            benchProgress_->setValue(int(fraction * 1000));
            benchResult_->setText(stage);
        },
        Qt::QueuedConnection);
    connect(&context_.worker(), &EngineWorker::benchFinished, this, &ModelsPage::onBenchFinished,
            Qt::QueuedConnection);
    refresh();
}

void ModelsPage::addModelPaths(const QStringList& paths) {
    for (const QString& path : paths) {
        ++pending_;
        emit statusMessage(tr("Checking %1…").arg(QFileInfo(path).fileName()));
        auto* watcher = new QFutureWatcher<InspectionResult>(this);
        connect(watcher, &QFutureWatcher<InspectionResult>::finished, this, [this, watcher] {
            --pending_;
            onInspected(watcher->result());
            watcher->deleteLater();
        });
        watcher->setFuture(QtConcurrent::run(inspectModelPath, path));
    }
}

void ModelsPage::onInspected(const InspectionResult& result) {
    const QString name = QFileInfo(result.path).fileName();
    if (!result.record) {
        showError(tr("Could not add %1: %2").arg(name, result.error));
        emit addFailed(result.path, result.error);
        return;
    }
    int64_t id = 0;
    try {
        id = context_.store().registerModel(*result.record);
    } catch (const std::exception& e) {
        showError(
            tr("Could not register %1 in the run store: %2").arg(name, QString::fromStdString(e.what())));
        emit addFailed(result.path, QString::fromStdString(e.what()));
        return;
    }
    QStringList hidden = hiddenPaths();
    if (hidden.removeAll(result.path) > 0) setHiddenPaths(hidden);
    errorBanner_->hide();
    refresh();
    selectModel(id);
    emit statusMessage(tr("Added %1 to the library").arg(name));
    emit modelAdded(id);
}

void ModelsPage::showError(const QString& text) {
    errorBanner_->showError(text);
    emit statusMessage(text);
}

QString ModelsPage::errorText() const {
    return errorBanner_->errorText();
}

void ModelsPage::refresh() {
    const std::optional<int64_t> selected = selectedModelId();
    std::vector<ModelRecord> models;
    try {
        models = context_.store().listModels();
    } catch (const std::exception& e) {
        showError(tr("Could not read the model library: %1").arg(QString::fromStdString(e.what())));
    }
    const QStringList hidden = hiddenPaths();
    std::erase_if(models,
                  [&](const ModelRecord& m) { return hidden.contains(QString::fromStdString(m.path)); });
    model_->setModels(std::move(models));
    subtitle_->setText(model_->rowCount() == 0   ? tr("The library is empty")
                       : model_->rowCount() == 1 ? tr("1 model in the library")
                                                 : tr("%1 models in the library").arg(model_->rowCount()));
    if (selected) selectModel(*selected);
    if (!selectedModelId() && model_->rowCount() > 0) list_->setCurrentIndex(model_->index(0));
    showCard();
}

void ModelsPage::setActiveModel(int64_t modelId) {
    activeModelId_ = modelId;
    showCard();
}

void ModelsPage::selectModel(int64_t modelId) {
    const int row = model_->rowOfId(modelId);
    if (row >= 0) list_->setCurrentIndex(model_->index(row));
}

std::optional<int64_t> ModelsPage::selectedModelId() const {
    const ModelRecord* record = model_->modelAt(list_->currentIndex().row());
    return record ? std::optional<int64_t>(record->id) : std::nullopt;
}

void ModelsPage::showCard() {
    const ModelRecord* m = model_->modelAt(list_->currentIndex().row());
    if (!m) {
        detailStack_->setCurrentIndex(0);
        return;
    }
    detailStack_->setCurrentIndex(1);
    const nlohmann::json& s = m->summary;
    const bool active = m->id == activeModelId_;
    cardTitle_->setText(QString::fromStdString(m->name) + (active ? tr("   · loaded") : QString()));
    cardSubtitle_->setText(QString::fromStdString(m->path));
    chatButton_->setText(active ? tr("Chat with this model") : tr("Load and chat"));

    overview_->clear();
    overview_->addRow(tr("Format"), m->format == "gguf" ? tr("GGUF file") : tr("Hugging Face folder"));
    overview_->addRow(tr("Architecture"), QString::fromStdString(m->architecture));
    overview_->addRow(tr("Parameters"), humanCount(double(m->parameterCount)) +
                                            QStringLiteral("  (%L1)").arg(qulonglong(m->parameterCount)));
    overview_->addRow(tr("Size on disk"), humanBytes(double(m->fileBytes)));
    overview_->addRow(
        tr("Tokenizer"),
        QStringLiteral("%1, %2 tokens").arg(jsonText(s, "tokenizer"), jsonText(s, "tokenizer_vocab")));
    overview_->addRow(tr("Chat template"), jsonText(s, "chat_template"));
    overview_->addRow(tr("Context length"), QStringLiteral("%L1 tokens").arg(s.value("context_length", 0)));

    architecture_->clear();
    architecture_->addRow(tr("Layers"), jsonText(s, "layers"));
    architecture_->addRow(tr("Hidden size"), jsonText(s, "hidden"));
    architecture_->addRow(tr("Attention heads"),
                          tr("%1 query · %2 key/value · dim %3")
                              .arg(jsonText(s, "heads"), jsonText(s, "kv_heads"), jsonText(s, "head_dim")));
    architecture_->addRow(tr("Feed-forward"), jsonText(s, "ffn"));
    architecture_->addRow(tr("Vocabulary"), jsonText(s, "vocab"));
    architecture_->addRow(tr("RoPE"),
                          tr("base %1, %2").arg(jsonText(s, "rope_freq_base"), jsonText(s, "rope_style")));
    architecture_->addRow(tr("Embeddings"), s.value("tied_embeddings", false) ? tr("tied to the output")
                                                                              : tr("separate output"));

    tensors_->clear();
    if (const auto types = s.find("tensor_types"); types != s.end() && types->is_object()) {
        for (const auto& [type, info] : types->items()) {
            const double params = info.value("parameters", 0.0);
            const double share = m->parameterCount ? 100.0 * params / double(m->parameterCount) : 0;
            tensors_->addRow(QString::fromStdString(type).toUpper(),
                             tr("%1 tensor%4 · %2 parameters (%3 %)")
                                 .arg(info.value("tensors", 0))
                                 .arg(humanCount(params))
                                 .arg(share, 0, 'f', 1)
                                 .arg(info.value("tensors", 0) == 1 ? "" : "s"));
        }
    }
    if (tensors_->rowCount() == 0) tensors_->addRow(tr("—"), tr("no tensor information"));
}

void ModelsPage::startBenchmark() {
    const std::optional<int64_t> id = selectedModelId();
    if (!id || benchJob_ != 0) return;
    if (*id != activeModelId_) emit activateRequested(*id);
    static quint64 nextJob = 1;
    benchJob_ = nextJob++;
    BenchJob job;
    job.id = benchJob_;
    job.modelId = *id;
    job.settings.promptTokens = benchPrompt_->value();
    job.settings.generatedTokens = benchGenerated_->value();
    job.settings.repetitions = benchReps_->value();
    benchProgress_->setValue(0);
    benchProgress_->setVisible(true);
    benchCancel_->setVisible(true);
    benchButton_->setEnabled(false);
    benchResult_->setText(tr("Waiting for the engine…"));
    EngineWorker* worker = &context_.worker();
    worker->post([worker, job] { worker->runBench(job); });
}

void ModelsPage::onBenchFinished(const BenchOutcome& outcome) {
    if (outcome.id != benchJob_) return;
    benchJob_ = 0;
    benchProgress_->setVisible(false);
    benchCancel_->setVisible(false);
    benchButton_->setEnabled(true);
    if (outcome.cancelled) {
        benchResult_->setText(tr("Benchmark cancelled (run #%1).").arg(outcome.runId));
    } else if (!outcome.error.isEmpty()) {
        benchResult_->setText(tr("Benchmark failed: %1").arg(outcome.error));
    } else {
        const BenchResult& r = outcome.result;
        benchResult_->setText(tr("<b>pp %1</b>: %2 ± %3 tok/s &nbsp;·&nbsp; <b>tg %4</b>: %5 ± %6 tok/s "
                                 "&nbsp;·&nbsp; TTFT %7 ms "
                                 "&nbsp;·&nbsp; ITL p50 %8 ms, p99 %9 ms &nbsp;(run #%10)")
                                  .arg(r.promptTokens)
                                  .arg(mean(r.promptTokensPerSecond), 0, 'f', 1)
                                  .arg(stddev(r.promptTokensPerSecond), 0, 'f', 1)
                                  .arg(r.generatedTokens)
                                  .arg(mean(r.decodeTokensPerSecond), 0, 'f', 1)
                                  .arg(stddev(r.decodeTokensPerSecond), 0, 'f', 1)
                                  .arg(mean(r.ttftMs), 0, 'f', 0)
                                  .arg(percentile(r.interTokenMs, 50), 0, 'f', 1)
                                  .arg(percentile(r.interTokenMs, 99), 0, 'f', 1)
                                  .arg(outcome.runId));
    }
    emit benchmarkFinished(outcome.runId);
}

void ModelsPage::removeSelected() {
    const ModelRecord* m = model_->modelAt(list_->currentIndex().row());
    if (!m) return;
    const QString name = QString::fromStdString(m->name);
    if (QMessageBox::question(
            this, tr("Remove model"),
            tr("Remove %1 from the library? The file stays on disk and its runs stay in the "
               "history.")
                .arg(name)) != QMessageBox::Yes)
        return;
    QStringList hidden = hiddenPaths();
    hidden.append(QString::fromStdString(m->path));
    setHiddenPaths(hidden);
    refresh();
    emit statusMessage(tr("Removed %1 from the library").arg(name));
}

// The store keeps every model a run refers to, so "remove" hides the model from the library (per
// store file); adding the same path again brings it back.
QStringList ModelsPage::hiddenPaths() const {
    return QSettings()
        .value("library/hidden/" + QString::fromStdString(context_.store().path().string()).toUtf8().toHex())
        .toStringList();
}

void ModelsPage::setHiddenPaths(const QStringList& paths) {
    QSettings().setValue(
        "library/hidden/" + QString::fromStdString(context_.store().path().string()).toUtf8().toHex(), paths);
}

} // namespace lathe::gui
