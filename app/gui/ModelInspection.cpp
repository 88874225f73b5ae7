#include "ModelInspection.h"

#include "core/Error.h"
#include "io/ModelFiles.h"
#include "workbench/ModelSummary.h"

#include <QFileInfo>

namespace lathe::gui {

InspectionResult inspectModelPath(const QString& path) {
    InspectionResult result;
    result.path = QFileInfo(path).absoluteFilePath();
    try {
        const QFileInfo info(result.path);
        if (!info.exists()) fail(ErrorCategory::Io, "{} does not exist", result.path.toStdString());
        if (info.isFile() && !looksLikeGguf(result.path.toStdString()))
            fail(ErrorCategory::InvalidFile, "{} is not a GGUF file (it does not start with the GGUF magic)",
                 info.fileName().toStdString());
        const ModelFiles files = openModelFiles(result.path.toStdString());
        const ModelSummary summary = summarizeModel(files);
        ModelRecord record;
        record.path = result.path.toStdString();
        record.name = summary.name.empty() ? info.fileName().toStdString() : summary.name;
        record.format = summary.format;
        record.architecture = summary.config.architecture;
        record.parameterCount = summary.parameterCount;
        record.fileBytes = summary.fileBytes;
        record.summary = summary.toJson();
        result.record = std::move(record);
    } catch (const std::exception& e) {
        result.error = QString::fromStdString(e.what());
    }
    return result;
}

} // namespace lathe::gui
