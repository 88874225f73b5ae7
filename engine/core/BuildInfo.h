#pragma once
// Version and git commit of this build. Kept in one translation unit so that a new commit recompiles
// one file, not every file that includes an engine header.

namespace lathe {

const char* latheVersion(); // "0.1.0"
const char* latheCommit();  // short git hash, or "unknown"

} // namespace lathe
