#pragma once
// The conversation settings beside a chat: system prompt and decoding knobs (temperature, top-k,
// top-p, min-p, repetition penalty, max tokens, seed).

#include "GenerationConfig.h"

#include <QWidget>

class QDoubleSpinBox;
class QPlainTextEdit;
class QSpinBox;
class QLineEdit;

namespace lathe::gui {

class DecodingPanel : public QWidget {
    Q_OBJECT
public:
    explicit DecodingPanel(QWidget* parent = nullptr);
    DecodingSettings settings() const;
    void setSettings(const DecodingSettings& settings); // does not emit changed()

signals:
    void changed();

private:
    QPlainTextEdit* systemPrompt_;
    QDoubleSpinBox* temperature_;
    QSpinBox* topK_;
    QDoubleSpinBox* topP_;
    QDoubleSpinBox* minP_;
    QDoubleSpinBox* repeatPenalty_;
    QSpinBox* maxTokens_;
    QLineEdit* seed_;
    bool loading_ = false;
};

} // namespace lathe::gui
