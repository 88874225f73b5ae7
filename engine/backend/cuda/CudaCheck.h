#pragma once
// The one check for CUDA runtime and cuBLAS calls: a failure throws lathe::Error (Device) naming the
// statement, the function, the file and the line, plus the library's own error string.
//   LATHE_CUDA_CHECK(cudaMemcpyAsync(...));
//   LATHE_CUDA_CHECK(blas.gemmEx(...));

#include "backend/cuda/CublasLibrary.h"

#include <cuda_runtime.h>

namespace lathe::cuda {

[[noreturn]] void throwCudaFailure(const char* library, int code, const char* reason, const char* statement,
                                   const char* function, const char* file, int line);

inline void checkResult(cudaError_t rc, const char* statement, const char* function, const char* file,
                        int line) {
    if (rc != cudaSuccess)
        throwCudaFailure("CUDA", int(rc), cudaGetErrorString(rc), statement, function, file, line);
}
inline void checkResult(cublasStatus_t rc, const char* statement, const char* function, const char* file,
                        int line) {
    if (rc != CUBLAS_STATUS_SUCCESS)
        throwCudaFailure("cuBLAS", int(rc), cublasLibrary().statusString(rc), statement, function, file,
                         line);
}

} // namespace lathe::cuda

#define LATHE_CUDA_CHECK(statement)                                                                          \
    ::lathe::cuda::checkResult((statement), #statement, __func__, __FILE__, __LINE__)
