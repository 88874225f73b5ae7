#include "backend/cuda/StepRecorder.h"

#include "backend/cuda/CudaCheck.h"

#include <algorithm>

namespace lathe::cuda {

namespace {
constexpr size_t kStagingAlign = 16;
// Staged arrays take power-of-two capacities, so a block table that grows by one entry keeps the
// addresses of the arrays after it (and the step its graph) until it crosses a power of two.
size_t stagedCapacity(size_t bytes) {
    size_t capacity = 64;
    while (capacity < bytes)
        capacity *= 2;
    return capacity;
}
} // namespace

StepRecorder::StepRecorder(cudaStream_t stream) : stream_(stream) {
    LATHE_CUDA_CHECK(cudaEventCreateWithFlags(&stagingSent_, cudaEventDisableTiming));
    launches_.reserve(1024);
}

StepRecorder::~StepRecorder() {
    cudaStreamSynchronize(stream_);
    if (stagingHost_) cudaFreeHost(stagingHost_);
    if (stagingDevice_) cudaFree(stagingDevice_);
    if (scratch_) cudaFree(scratch_);
    cudaEventDestroy(stagingSent_);
}

void StepRecorder::reserve() {
    if (stagingWanted_ > stagingCapacity_) {
        LATHE_CUDA_CHECK(cudaStreamSynchronize(stream_));
        if (stagingHost_) cudaFreeHost(stagingHost_);
        if (stagingDevice_) cudaFree(stagingDevice_);
        stagingHost_ = nullptr;
        stagingDevice_ = nullptr;
        stagingCapacity_ = 0;
        LATHE_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&stagingHost_), stagingWanted_));
        LATHE_CUDA_CHECK(cudaMalloc(&stagingDevice_, stagingWanted_));
        stagingCapacity_ = stagingWanted_;
    }
    if (scratchWanted_ > scratchCapacity_) {
        LATHE_CUDA_CHECK(cudaStreamSynchronize(stream_));
        if (scratch_) cudaFree(scratch_);
        scratch_ = nullptr;
        scratchCapacity_ = 0;
        LATHE_CUDA_CHECK(cudaMalloc(&scratch_, scratchWanted_));
        scratchCapacity_ = scratchWanted_;
    }
}

void StepRecorder::begin(int nTokens) {
    if (recording_) abort();
    reserve();
    // The pinned staging of the last step must have reached the device before it is overwritten.
    LATHE_CUDA_CHECK(cudaEventSynchronize(stagingSent_));
    ++stepNumber_;
    recording_ = true;
    nTokens_ = nTokens;
    signature_ = mixSignature(0, uint64_t(nTokens));
    stagingUsed_ = 0;
    launches_.clear();
}

void StepRecorder::launch(uint64_t signature, Launch launch) {
    if (!recording_) {
        launch(stream_);
        LATHE_CUDA_CHECK(cudaGetLastError());
        return;
    }
    signature_ = mixSignature(signature_, signature);
    launches_.push_back(std::move(launch));
}

void* StepRecorder::stageBytes(const void* data, size_t bytes) {
    if (!recording_) return nullptr;
    const size_t capacity = stagedCapacity(bytes);
    if (stagingUsed_ + capacity > stagingCapacity_) {
        stagingWanted_ = std::max(stagingWanted_, 2 * (stagingUsed_ + capacity));
        return nullptr;
    }
    if (bytes) std::memcpy(stagingHost_ + stagingUsed_, data, bytes);
    void* device = static_cast<uint8_t*>(stagingDevice_) + stagingUsed_;
    stagingUsed_ += (capacity + kStagingAlign - 1) / kStagingAlign * kStagingAlign;
    return device;
}

void* StepRecorder::scratch(size_t bytes) {
    if (!recording_) return nullptr;
    if (bytes > scratchCapacity_) {
        scratchWanted_ = std::max(scratchWanted_, 2 * bytes);
        return nullptr;
    }
    return scratch_;
}

void StepRecorder::sendStaging() {
    if (stagingUsed_)
        LATHE_CUDA_CHECK(
            cudaMemcpyAsync(stagingDevice_, stagingHost_, stagingUsed_, cudaMemcpyHostToDevice, stream_));
    LATHE_CUDA_CHECK(cudaEventRecord(stagingSent_, stream_));
}

void StepRecorder::flush() {
    if (!recording_) return;
    recording_ = false;
    sendStaging();
    for (Launch& launch : launches_)
        launch(stream_);
    LATHE_CUDA_CHECK(cudaGetLastError());
    launches_.clear();
}

void StepRecorder::end() {
    if (!recording_) return;
    recording_ = false;
    sendStaging();
    const DecodeGraphKey key{nTokens_, 0, 0, signature_};
    const bool replayed = graphs_.run(key, stream_, [this](cudaStream_t stream) {
        for (Launch& launch : launches_)
            launch(stream);
    });
    ++(replayed ? replays_ : captures_);
    launches_.clear();
}

void StepRecorder::abort() {
    recording_ = false;
    launches_.clear();
}

} // namespace lathe::cuda
