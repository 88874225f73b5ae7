#pragma once
// Connects a TelemetrySampler to a run: the sampler's batches (about one a second) are appended to the
// run's samples in the store. Store errors (disk full) are caught by the sampler, logged, and do not
// stop the run.

#include "monitor/TelemetrySampler.h"
#include "store/RunStore.h"

#include <cstdint>

namespace lathe {

inline TelemetrySampler::Sink runSampleSink(RunStore& store, int64_t runId) {
    return [&store, runId](std::span<const SeriesSample> batch) { store.appendSamples(runId, batch); };
}

} // namespace lathe
