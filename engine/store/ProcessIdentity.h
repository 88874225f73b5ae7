#pragma once
// Which process owns a running run: its pid plus its start time (clock ticks since boot), so that a pid
// reused by an unrelated process after a crash is not mistaken for the owner.

#include <cstdint>

namespace lathe {

struct ProcessIdentity {
    int64_t pid = 0;
    int64_t startTicks = 0; // field 22 of /proc/PID/stat
};

ProcessIdentity currentProcess();
// True when that very process is still alive (same pid and same start time).
bool isProcessAlive(const ProcessIdentity& process);

} // namespace lathe
