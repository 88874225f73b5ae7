#include "ModelInspection.h"

#include "core/Error.h"
#include "io/ModelFiles.h"
#include "workbench/RunRecorder.h"

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
        result.record = modelRecordOf(summarizeModel(openModelFiles(result.path.toStdString())));
    } catch (const std::exception& e) {
        result.error = QString::fromStdString(e.what());
    }
    return result;
}

} // namespace lathe::gui
