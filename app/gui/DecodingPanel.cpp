#include "DecodingPanel.h"

#include "widgets/Theme.h"

#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpressionValidator>
#include <QSpinBox>
#include <QVBoxLayout>

namespace lathe::gui {
namespace {

QDoubleSpinBox* doubleBox(double lo, double hi, double step, int decimals, const QString& tip,
                          QWidget* parent) {
    auto* box = new QDoubleSpinBox(parent);
    box->setRange(lo, hi);
    box->setSingleStep(step);
    box->setDecimals(decimals);
    box->setToolTip(tip);
    return box;
}

} // namespace

DecodingPanel::DecodingPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(12, 12, 12, 12);
    layout->setSpacing(6);
    auto* heading = new QLabel(tr("Conversation settings"), this);
    heading->setStyleSheet("font-weight: 600; font-size: 14px;");
    layout->addWidget(heading);
    auto* note = new QLabel(tr("Saved with this conversation."), this);
    widgets::setRole(note, "muted");
    layout->addWidget(note);

    auto* systemLabel = new QLabel(tr("System prompt"), this);
    widgets::setRole(systemLabel, "section");
    layout->addWidget(systemLabel);
    systemPrompt_ = new QPlainTextEdit(this);
    systemPrompt_->setPlaceholderText(tr("e.g. You are a concise assistant."));
    systemPrompt_->setFixedHeight(90);
    layout->addWidget(systemPrompt_);

    auto* decodingLabel = new QLabel(tr("Decoding"), this);
    widgets::setRole(decodingLabel, "section");
    layout->addWidget(decodingLabel);
    auto* form = new QFormLayout;
    form->setLabelAlignment(Qt::AlignLeft);
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    temperature_ = doubleBox(0, 5, 0.05, 2, tr("0 = greedy (always the most likely token)"), this);
    topK_ = new QSpinBox(this);
    topK_->setRange(0, 100000);
    topK_->setToolTip(tr("Keep the k most likely tokens; 0 = off"));
    topP_ = doubleBox(0.01, 1, 0.01, 2, tr("Nucleus sampling; 1 = off"), this);
    minP_ = doubleBox(0, 1, 0.01, 2, tr("Drop tokens below min-p × the top probability; 0 = off"), this);
    repeatPenalty_ = doubleBox(1, 3, 0.05, 2, tr("Penalise recently used tokens; 1 = off"), this);
    maxTokens_ = new QSpinBox(this);
    maxTokens_->setRange(1, 32768);
    maxTokens_->setToolTip(tr("Longest reply in tokens"));
    seed_ = new QLineEdit(this);
    seed_->setValidator(new QRegularExpressionValidator(QRegularExpression("[0-9]{1,19}"), seed_));
    seed_->setToolTip(tr("Sampling is reproducible from its seed"));
    form->addRow(tr("Temperature"), temperature_);
    form->addRow(tr("Top-k"), topK_);
    form->addRow(tr("Top-p"), topP_);
    form->addRow(tr("Min-p"), minP_);
    form->addRow(tr("Repeat penalty"), repeatPenalty_);
    form->addRow(tr("Max tokens"), maxTokens_);
    form->addRow(tr("Seed"), seed_);
    layout->addLayout(form);
    auto* reset = new QPushButton(tr("Reset to defaults"), this);
    layout->addWidget(reset, 0, Qt::AlignLeft);
    layout->addStretch(1);

    auto emitChanged = [this] {
        if (!loading_) emit changed();
    };
    connect(systemPrompt_, &QPlainTextEdit::textChanged, this, emitChanged);
    for (QDoubleSpinBox* box : {temperature_, topP_, minP_, repeatPenalty_})
        connect(box, &QDoubleSpinBox::valueChanged, this, emitChanged);
    for (QSpinBox* box : {topK_, maxTokens_})
        connect(box, &QSpinBox::valueChanged, this, emitChanged);
    connect(seed_, &QLineEdit::textChanged, this, emitChanged);
    connect(reset, &QPushButton::clicked, this, [this] {
        DecodingSettings defaults;
        defaults.systemPrompt = systemPrompt_->toPlainText().toStdString();
        setSettings(defaults);
        emit changed();
    });
    setSettings(DecodingSettings{});
}

DecodingSettings DecodingPanel::settings() const {
    DecodingSettings s;
    s.systemPrompt = systemPrompt_->toPlainText().toStdString();
    s.sampling.temperature = float(temperature_->value());
    s.sampling.topK = topK_->value();
    s.sampling.topP = float(topP_->value());
    s.sampling.minP = float(minP_->value());
    s.sampling.repeatPenalty = float(repeatPenalty_->value());
    s.sampling.seed = seed_->text().toULongLong();
    s.maxNewTokens = maxTokens_->value();
    return s;
}

void DecodingPanel::setSettings(const DecodingSettings& s) {
    loading_ = true;
    systemPrompt_->setPlainText(QString::fromStdString(s.systemPrompt));
    temperature_->setValue(s.sampling.temperature);
    topK_->setValue(s.sampling.topK);
    topP_->setValue(s.sampling.topP);
    minP_->setValue(s.sampling.minP);
    repeatPenalty_->setValue(s.sampling.repeatPenalty);
    maxTokens_->setValue(s.maxNewTokens);
    seed_->setText(QString::number(s.sampling.seed));
    loading_ = false;
}

} // namespace lathe::gui
