#include "VariantNaming.h"

#include <QDir>
#include <QFileInfo>
#include <QRegularExpression>
#include <QStringList>

namespace lathe::gui {
namespace {

QString stepSlug(const RecipeStep& step) {
    QString method = QString::fromUtf8(compressMethodName(step.method).data()).replace('_', '-');
    switch (step.method) {
    case CompressMethod::Rtn:
    case CompressMethod::Awq:
    case CompressMethod::Gptq:
        return QStringLiteral("%1-w%2-%3%4")
            .arg(method)
            .arg(step.quant.bits)
            .arg(step.quant.group == 0 ? QStringLiteral("pc") : QStringLiteral("g%1").arg(step.quant.group))
            .arg(step.quant.symmetric ? QStringLiteral("-sym") : QString());
    case CompressMethod::SmoothQuant:
        return method + QStringLiteral("-w8a8");
    case CompressMethod::Magnitude:
    case CompressMethod::Wanda:
    case CompressMethod::SparseGpt:
        if (step.patternM > 0)
            return QStringLiteral("%1-%2of%3").arg(method).arg(step.patternN).arg(step.patternM);
        [[fallthrough]];
    case CompressMethod::FfnChannels:
        return QStringLiteral("%1-%2").arg(method).arg(qRound(step.sparsity * 100));
    case CompressMethod::AttnHeads: // the unit matters as much as the share: "attn-heads-34-group"
        return QStringLiteral("%1-%2-%3")
            .arg(method)
            .arg(qRound(step.sparsity * 100))
            .arg(QString::fromUtf8(headUnitName(step.headUnit).data()));
    }
    return method;
}

} // namespace

QString recipeSlug(const Recipe& recipe) {
    QStringList parts;
    for (const RecipeStep& step : recipe.steps)
        parts.append(stepSlug(step));
    return parts.isEmpty() ? QStringLiteral("variant") : parts.join('+');
}

QString modelStem(const QString& modelPath) {
    const QFileInfo info(modelPath);
    const bool gguf = !info.isDir() && info.suffix().compare("gguf", Qt::CaseInsensitive) == 0;
    const QString stem = gguf ? info.completeBaseName() : info.fileName();
    static const QRegularExpression formatTag(QStringLiteral("[.-](f32|f16|bf16|q[2-8](_[a-z0-9]+)*)$"),
                                              QRegularExpression::CaseInsensitiveOption);
    const QString trimmed = QString(stem).remove(formatTag);
    return trimmed.isEmpty() ? stem : trimmed;
}

QString defaultVariantPath(const QString& modelPath, const Recipe& recipe) {
    return QFileInfo(modelPath).absoluteDir().filePath(
        QStringLiteral("%1.%2.gguf").arg(modelStem(modelPath), recipeSlug(recipe)));
}

} // namespace lathe::gui
