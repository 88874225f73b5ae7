#include "core/BuildInfo.h"

#include "GitCommit.h" // LATHE_GIT_COMMIT, generated at build time

namespace lathe {

const char* latheVersion() {
    return LATHE_VERSION;
}
const char* latheCommit() {
    return LATHE_GIT_COMMIT;
}

} // namespace lathe
