#pragma once
// The CUDA backend: every Backend op on one GPU. Weights are uploaded once at prepareWeight (plain
// formats as stored, Q4_0/Q4_1/Q8_0 rows split into quants and scales (kernels/WeightLayout.h),
// other formats, Lathe's LQ3_64 included, expanded to F16 on the host). Per-token int8 activations
// (setActivationQuantization, SmoothQuant W8A8) run on int8 in the one-token mat-vec and as their codes times
// the row's scale elsewhere. Activations live in device buffers (makeActivations), so a forward pass queues
// its ops on one stream and waits only when the logits are downloaded; the span ops (the op tests' form) go
// through scratch buffers. The device holds the only copy of the KV rows of the cache it is bound to:
// model/KvCache keeps the block tables, and the copies it makes on write are replayed on the device from its
// block-copy log. A forward step of at most 8 rows (decode, speculative verification) is recorded and
// replayed as one CUDA graph (StepRecorder); LATHE_CUDA_GRAPHS=0 in the environment launches its ops one by
// one.

#include "backend/Backend.h"

#include <cstddef>
#include <memory>

namespace lathe {

// Throws lathe::Error (Device) when the device does not exist or cannot run this build's kernels.
std::unique_ptr<Backend> makeCudaBackend(int deviceOrdinal);

// Recorded steps of a backend made by makeCudaBackend: run from a cached CUDA graph, or captured.
struct CudaGraphStats {
    size_t replays = 0;
    size_t captures = 0;
};
CudaGraphStats cudaGraphStats(const Backend& backend);

} // namespace lathe
