#include "monitor/ProcessStats.h"

#include <cstdio>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

namespace lathe {
namespace {

double clockSeconds(clockid_t clock) {
    timespec ts{};
    if (clock_gettime(clock, &ts) != 0) return 0;
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

} // namespace

double processCpuSeconds() {
    return clockSeconds(CLOCK_PROCESS_CPUTIME_ID);
}
double threadCpuSeconds() {
    return clockSeconds(CLOCK_THREAD_CPUTIME_ID);
}

uint64_t processRssBytes() {
    // Plain read(2): no stream objects or locale work in a path that runs 4 times a second.
    const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char text[128];
    const ssize_t n = ::read(fd, text, sizeof text - 1);
    ::close(fd);
    if (n <= 0) return 0;
    text[n] = '\0';
    unsigned long long sizePages = 0, residentPages = 0;
    if (std::sscanf(text, "%llu %llu", &sizePages, &residentPages) != 2) return 0;
    return residentPages * uint64_t(sysconf(_SC_PAGESIZE));
}

} // namespace lathe
