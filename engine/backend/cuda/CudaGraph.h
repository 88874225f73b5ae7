#pragma once
// CudaGraphRunner: runs a recorded sequence of launches on a stream as a CUDA graph, capturing it the
// first time a key is seen and replaying the instantiated graph afterwards (GraphCache). The recorder
// must launch only on the given stream and read per-step inputs from fixed device addresses.

#include "backend/cuda/GraphCache.h"

#include <cuda_runtime.h>
#include <functional>

namespace lathe::cuda {

class CudaGraphRunner {
public:
    explicit CudaGraphRunner(size_t capacity = 16);
    // Replays the graph of `key`, or captures `record(stream)` into one first. Returns true on a replay.
    bool run(const DecodeGraphKey& key, cudaStream_t stream, const std::function<void(cudaStream_t)>& record);
    const GraphCache& cache() const { return cache_; }

private:
    GraphCache cache_;
};

} // namespace lathe::cuda
