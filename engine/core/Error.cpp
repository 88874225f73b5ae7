#include "core/Error.h"

namespace lathe {

const char* errorCategoryName(ErrorCategory category) {
    switch (category) {
    case ErrorCategory::InvalidArgument:
        return "invalid argument";
    case ErrorCategory::InvalidFile:
        return "invalid file";
    case ErrorCategory::Unsupported:
        return "unsupported";
    case ErrorCategory::Io:
        return "i/o error";
    case ErrorCategory::Cancelled:
        return "cancelled";
    case ErrorCategory::Device:
        return "device error";
    case ErrorCategory::Internal:
        return "internal error";
    }
    return "error";
}

} // namespace lathe
