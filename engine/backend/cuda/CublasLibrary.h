#pragma once
// cuBLAS, opened when the first CUDA backend starts instead of linked into every program. Linking it
// costs each process ~140 MiB of resident memory at start-up (libcublasLt's static data), CPU-only runs
// and the desktop app included, for a library only the CUDA backend calls.
//   const CublasLibrary& blas = cublasLibrary(); // throws lathe::Error (Device) if it cannot be opened
//   blas.create(&handle);

#include <cublas_v2.h>

namespace lathe::cuda {

// cublasGemmEx with a cublasComputeType_t (the header overloads it, in C++, with a cudaDataType wrapper).
using CublasGemmEx = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                        const void*, const void*, cudaDataType, int, const void*,
                                        cudaDataType, int, const void*, void*, cudaDataType, int,
                                        cublasComputeType_t, cublasGemmAlgo_t);

// The cuBLAS entry points Lathe calls (cublas_v2.h maps cublasCreate to cublasCreate_v2 and so on).
struct CublasLibrary {
    decltype(&::cublasCreate_v2) create = nullptr;
    decltype(&::cublasDestroy_v2) destroy = nullptr;
    decltype(&::cublasSetStream_v2) setStream = nullptr;
    CublasGemmEx gemmEx = nullptr;
    decltype(&::cublasGetStatusString) statusString = nullptr;
};

// Opens the library once (the soname of the toolkit Lathe was built with, searched as the dynamic
// loader does, then in that toolkit's library folder) and resolves every entry point. Thread-safe.
const CublasLibrary& cublasLibrary();

// Whether this process has cuBLAS mapped (read from /proc/self/maps); for tests and diagnostics.
bool cublasIsLoaded();

} // namespace lathe::cuda
