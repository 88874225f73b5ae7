#include "backend/cuda/CudaGraph.h"

#include "backend/cuda/CudaCheck.h"

namespace lathe::cuda {

CudaGraphRunner::CudaGraphRunner(size_t capacity)
    : cache_(capacity, [](void* exec) { cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec)); }) {}

bool CudaGraphRunner::run(const DecodeGraphKey& key, cudaStream_t stream,
                          const std::function<void(cudaStream_t)>& record) {
    if (void* exec = cache_.find(key)) {
        LATHE_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec), stream));
        return true;
    }
    cudaGraph_t graph = nullptr;
    LATHE_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    try {
        record(stream);
    } catch (...) {
        cudaStreamEndCapture(stream, &graph);
        if (graph) cudaGraphDestroy(graph);
        throw;
    }
    LATHE_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t rc = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    LATHE_CUDA_CHECK(rc);
    cache_.insert(key, exec);
    LATHE_CUDA_CHECK(cudaGraphLaunch(exec, stream));
    return false;
}

} // namespace lathe::cuda
