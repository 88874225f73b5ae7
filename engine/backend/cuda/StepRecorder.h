#pragma once
// StepRecorder: records the launches of one forward step (Backend::beginStep .. endStep) and replays
// them as a CUDA graph. A decode step launches hundreds of small kernels; launched one by one the host
// spends ~5 us on each and the GPU waits, so a step costs far more than its memory traffic. Recorded,
// the step's launches are closures; endStep looks up a graph by the step's signature (a hash of every
// value the launches pass to the device) and launches it, capturing it first when it is new
// (CudaGraphRunner, GraphCache).
//
// What makes a replay exact: per-step inputs (token ids, positions, block tables, masks) are staged in
// pinned host memory and copied, in one transfer before the graph, to fixed device addresses that the
// launches read; scratch comes from one fixed device buffer; every other value is in the signature.
// When the step needs what recording cannot give (more staging or scratch than reserved, a KV cache
// rebind, a buffer reallocation, a read of results), the backend calls flush(): what was recorded
// runs at once and the rest of the step runs directly. The reserve grows for the next step.

#include "backend/cuda/CudaGraph.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <cuda_runtime.h>
#include <functional>
#include <span>
#include <vector>

namespace lathe::cuda {

// 64-bit mixing for step signatures (splitmix64 finaliser over h ^ value).
inline uint64_t mixSignature(uint64_t h, uint64_t value) {
    uint64_t z = h ^ (value + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

class StepRecorder {
public:
    using Launch = std::function<void(cudaStream_t)>;

    explicit StepRecorder(cudaStream_t stream);
    ~StepRecorder();
    StepRecorder(const StepRecorder&) = delete;
    StepRecorder& operator=(const StepRecorder&) = delete;

    // Starts recording a step of nTokens rows (applying any reserve growth the last step asked for).
    void begin(int nTokens);
    bool recording() const { return recording_; }
    // Counts steps, so callers can tell staging done in this step from an earlier one's.
    uint64_t stepNumber() const { return stepNumber_; }

    // Records `launch` (its signature covering every value it passes to the device), or runs it now.
    void launch(uint64_t signature, Launch launch);

    // While recording: a device address that holds `values` when the step's launches run; null when
    // the staging reserve is full (the caller flushes and sends the values itself).
    template <typename T> const T* stage(std::span<const T> values) {
        void* device = stageBytes(values.data(), values.size_bytes());
        return static_cast<const T*>(device);
    }
    // While recording: device scratch of `bytes` for one launch (launches run in order, so each may
    // reuse it); null when larger than the reserve.
    void* scratch(size_t bytes);

    void flush();
    void end();
    void abort();

    size_t graphReplays() const { return replays_; }
    size_t graphCaptures() const { return captures_; }

private:
    void* stageBytes(const void* data, size_t bytes);
    void sendStaging();
    void reserve();

    cudaStream_t stream_;
    CudaGraphRunner graphs_;
    bool recording_ = false;
    int nTokens_ = 0;
    uint64_t stepNumber_ = 0;
    uint64_t signature_ = 0;
    std::vector<Launch> launches_;

    size_t stagingCapacity_ = 0, stagingUsed_ = 0, stagingWanted_ = size_t(1) << 20;
    uint8_t* stagingHost_ = nullptr; // pinned
    void* stagingDevice_ = nullptr;
    cudaEvent_t stagingSent_ = nullptr;

    size_t scratchCapacity_ = 0, scratchWanted_ = size_t(4) << 20;
    void* scratch_ = nullptr;

    size_t replays_ = 0, captures_ = 0;
};

} // namespace lathe::cuda
