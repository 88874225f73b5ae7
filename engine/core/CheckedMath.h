#pragma once
// Overflow-checked size arithmetic for values read from untrusted files.

#include "core/Error.h"

#include <cstdint>
#include <string_view>

namespace lathe {

inline uint64_t checkedMul(uint64_t a, uint64_t b, std::string_view what) {
    uint64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r))
        fail(ErrorCategory::InvalidFile, "{}: size overflows ({} x {})", what, a, b);
    return r;
}

inline uint64_t checkedAdd(uint64_t a, uint64_t b, std::string_view what) {
    uint64_t r = 0;
    if (__builtin_add_overflow(a, b, &r))
        fail(ErrorCategory::InvalidFile, "{}: size overflows ({} + {})", what, a, b);
    return r;
}

} // namespace lathe
