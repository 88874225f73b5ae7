#include "core/BuildInfo.h"

namespace lathe {

const char* latheVersion() {
    return LATHE_VERSION;
}
const char* latheCommit() {
    return LATHE_GIT_COMMIT;
}

} // namespace lathe
