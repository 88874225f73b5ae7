#include "backend/cuda/CublasLibrary.h"

#include "core/Error.h"

#include <dlfcn.h>
#include <fstream>
#include <string>

namespace lathe::cuda {
namespace {

void* openLibrary(std::string& errors) {
    const std::string candidates[] = {LATHE_CUBLAS_SONAME,
                                      std::string(LATHE_CUDA_LIBRARY_DIR) + "/" + LATHE_CUBLAS_SONAME};
    for (const std::string& path : candidates) {
        if (void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return handle;
        const char* why = dlerror();
        errors += fmt::format("{}{}", errors.empty() ? "" : "; ", why ? why : path.c_str());
    }
    return nullptr;
}

template <typename Fn> void resolve(void* handle, const char* symbol, Fn& fn) {
    fn = reinterpret_cast<Fn>(dlsym(handle, symbol));
    if (!fn)
        fail(ErrorCategory::Device, "cuBLAS ({}) has no {}: the library does not match this build",
             LATHE_CUBLAS_SONAME, symbol);
}

CublasLibrary load() {
    std::string errors;
    void* handle = openLibrary(errors);
    if (!handle)
        fail(ErrorCategory::Device, "cannot load cuBLAS ({}), which the CUDA backend needs: {}",
             LATHE_CUBLAS_SONAME, errors);
    // Kept open for the life of the process: handles made from it may outlive any one backend.
    CublasLibrary blas;
    resolve(handle, "cublasCreate_v2", blas.create);
    resolve(handle, "cublasDestroy_v2", blas.destroy);
    resolve(handle, "cublasSetStream_v2", blas.setStream);
    resolve(handle, "cublasGemmEx", blas.gemmEx);
    resolve(handle, "cublasGetStatusString", blas.statusString);
    return blas;
}

} // namespace

const CublasLibrary& cublasLibrary() {
    static const CublasLibrary library = load(); // a failed load throws, and the next call tries again
    return library;
}

bool cublasIsLoaded() {
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);)
        if (line.find("/libcublas") != std::string::npos) return true;
    return false;
}

} // namespace lathe::cuda
