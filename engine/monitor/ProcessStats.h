#pragma once
// This process's CPU time and resident memory, read cheaply enough to sample several times a second.

#include <cstdint>

namespace lathe {

// User + system CPU seconds of all threads. Read with CLOCK_PROCESS_CPUTIME_ID (nanoseconds) rather
// than /proc/self/stat, whose 10 ms ticks would make a 4 Hz CPU % jump in steps of 4 %.
double processCpuSeconds();
// CPU seconds of the calling thread (to measure the sampler's own cost).
double threadCpuSeconds();
// Resident set size in bytes, from /proc/self/statm; 0 if it cannot be read.
uint64_t processRssBytes();

} // namespace lathe
