#pragma once
// Validating a dropped path off the UI thread: opens the model files (every size and offset checked
// by the engine), summarises them for the model card, and turns the summary into a store record.

#include "store/RunRecords.h"

#include <QString>
#include <optional>

namespace lathe::gui {

struct InspectionResult {
    QString path;
    std::optional<ModelRecord> record; // set when the model is valid
    QString error;                     // set when it is not
};

// Never throws: a bad model is a result, not an exception. Safe on any thread.
InspectionResult inspectModelPath(const QString& path);

} // namespace lathe::gui
