#pragma once
// Helpers for the app's suites: settings isolated in a temporary folder (so QSettings never touches
// the user's), and an AppContext on a fresh run store.

#include "AppContext.h"

#include <QCoreApplication>
#include <QTemporaryDir>
#include <memory>

namespace lathe::test {

// Call first in initTestCase(): QSettings reads its folder once per process.
inline void isolateSettings(const QTemporaryDir& dir) {
    qputenv("XDG_CONFIG_HOME", dir.filePath("config").toUtf8());
    QCoreApplication::setOrganizationName("LatheTests");
    QCoreApplication::setApplicationName("lathe-tests");
}

inline std::unique_ptr<gui::AppContext> makeContext(const QTemporaryDir& dir, bool sampler = false,
                                                    int threads = 0) {
    gui::AppOptions options;
    options.dbPath = dir.filePath("lathe.db");
    options.sampler = sampler;
    options.threads = threads;
    options.registerDefaultModel = false;
    return std::make_unique<gui::AppContext>(options);
}

} // namespace lathe::test
