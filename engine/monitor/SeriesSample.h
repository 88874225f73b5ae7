#pragma once
// One point of a named time series, as the sampler produces it and the run store keeps it.

#include <string>

namespace lathe {

struct SeriesSample {
    std::string series; // "process.rss_bytes", "gpu0.power_w"
    double t = 0;       // seconds since the sampler (the run) started
    double value = 0;
};

} // namespace lathe
