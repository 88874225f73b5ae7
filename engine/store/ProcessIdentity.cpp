#include "store/ProcessIdentity.h"

#include <cerrno>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <string>
#include <unistd.h>

namespace lathe {
namespace {

// 0 when /proc/PID/stat cannot be read or the process has exited (gone or a zombie).
int64_t startTicksOf(int64_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return 0;
    // The command name (field 2) may hold spaces and parentheses; fields after the last ')' are plain.
    const size_t close = line.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    // A zombie has finished: it cannot be writing any more.
    if (!(fields >> field) || field == "Z" || field == "X") return 0;
    for (int index = 4; index <= 22 && fields >> field; ++index)
        if (index == 22) return std::stoll(field);
    return 0;
}

} // namespace

ProcessIdentity currentProcess() {
    const int64_t pid = getpid();
    return {pid, startTicksOf(pid)};
}

bool isProcessAlive(const ProcessIdentity& process) {
    if (process.pid <= 0) return false;
    if (kill(pid_t(process.pid), 0) != 0 && errno != EPERM) return false;
    const int64_t ticks = startTicksOf(process.pid);
    // A zombie or a process we cannot inspect counts as alive only if its start time matches.
    return ticks != 0 && ticks == process.startTicks;
}

} // namespace lathe
