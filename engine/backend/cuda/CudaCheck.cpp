#include "backend/cuda/CudaCheck.h"

#include "core/Error.h"

namespace lathe::cuda {

void throwCudaFailure(const char* library, int code, const char* reason, const char* statement,
                      const char* function, const char* file, int line) {
    fail(ErrorCategory::Device, "{} error {} ({}) in {} at {}:{}: {}", library, code, reason, function, file,
         line, statement);
}

} // namespace lathe::cuda
