// cuBLAS is opened by the first CUDA backend, not linked (backend/cuda/CublasLibrary.h): a process that
// only uses the CPU never maps it, and opening it resolves every entry point Lathe calls. Needs the CUDA
// toolkit's libraries, not a GPU (nothing here creates a cuBLAS handle).

#include "GpuTest.h"
#include "TinySyntheticShape.h"
#include "backend/cpu/CpuBackend.h"
#include "backend/cuda/CublasLibrary.h"
#include "io/ModelFiles.h"
#include "io/SyntheticModel.h"
#include "model/Batch.h"
#include "model/KvCache.h"
#include "model/Transformer.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>

using namespace lathe;

// Runs first (cases run in the order they are defined): nothing before it has asked for cuBLAS.
TEST_CASE(aCpuRunDoesNotMapCublas) {
    CHECK(!cuda::cublasIsLoaded());
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("lathe-cublas-" + std::to_string(getpid()) + ".gguf");
    writeSyntheticModel(path, test::tinySyntheticShape(), DType::Q8_0, 3);
    {
        const ModelFiles files = openModelFiles(path);
        auto backend = makeCpuBackend(CpuBackendOptions{2, false});
        Transformer model(files, *backend);
        KvCache cache = model.makeCache(64, 16);
        std::vector<float> logits;
        model.forward(Batch::sequence({1, 2, 3, 4}, 0, 0), cache, logits);
        CHECK(logits.size() == size_t(files.config.vocabSize));
    }
    std::filesystem::remove(path);
    CHECK(!cuda::cublasIsLoaded());
}

TEST_CASE(openingCublasResolvesEveryEntryPoint) {
    const cuda::CublasLibrary& blas = cuda::cublasLibrary();
    CHECK(cuda::cublasIsLoaded());
    CHECK(blas.create && blas.destroy && blas.setStream && blas.gemmEx && blas.statusString);
    CHECK(&cuda::cublasLibrary() == &blas); // opened once
    // The library's own text for a status (no handle needed), as LATHE_CUDA_CHECK reports it.
    const char* notInitialized = blas.statusString(CUBLAS_STATUS_NOT_INITIALIZED);
    const char* success = blas.statusString(CUBLAS_STATUS_SUCCESS);
    std::printf("  CUBLAS_STATUS_NOT_INITIALIZED: %s\n", notInitialized ? notInitialized : "(null)");
    CHECK(notInitialized && success && *notInitialized && std::strcmp(notInitialized, success) != 0);
}

int main() {
    return gputest::runAll();
}
