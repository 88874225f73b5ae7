#include "core/DType.h"

#include "core/Error.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace lathe {
namespace {

constexpr std::array kInfos = {
    DTypeInfo{DType::F32, "f32", 1, 4, false},
    DTypeInfo{DType::F16, "f16", 1, 2, false},
    DTypeInfo{DType::Q4_0, "q4_0", 32, 18, true},
    DTypeInfo{DType::Q4_1, "q4_1", 32, 20, true},
    DTypeInfo{DType::Q5_0, "q5_0", 32, 22, true},
    DTypeInfo{DType::Q5_1, "q5_1", 32, 24, true},
    DTypeInfo{DType::Q8_0, "q8_0", 32, 34, true},
    DTypeInfo{DType::Q8_1, "q8_1", 32, 36, true},
    DTypeInfo{DType::Q2_K, "q2_K", 256, 84, true},
    DTypeInfo{DType::Q3_K, "q3_K", 256, 110, true},
    DTypeInfo{DType::Q4_K, "q4_K", 256, 144, true},
    DTypeInfo{DType::Q5_K, "q5_K", 256, 176, true},
    DTypeInfo{DType::Q6_K, "q6_K", 256, 210, true},
    DTypeInfo{DType::Q8_K, "q8_K", 256, 292, true},
    DTypeInfo{DType::I8, "i8", 1, 1, false},
    DTypeInfo{DType::I16, "i16", 1, 2, false},
    DTypeInfo{DType::I32, "i32", 1, 4, false},
    DTypeInfo{DType::I64, "i64", 1, 8, false},
    DTypeInfo{DType::F64, "f64", 1, 8, false},
    DTypeInfo{DType::BF16, "bf16", 1, 2, false},
    DTypeInfo{DType::LQ3_64, "lq3_64", 64, 28, true},
};

} // namespace

std::optional<DTypeInfo> dtypeInfoFor(uint32_t typeId) {
    for (const DTypeInfo& info : kInfos)
        if (static_cast<uint32_t>(info.type) == typeId) return info;
    return std::nullopt;
}

const DTypeInfo& dtypeInfo(DType type) {
    for (const DTypeInfo& info : kInfos)
        if (info.type == type) return info;
    fail(ErrorCategory::Internal, "unknown dtype id {}", static_cast<uint32_t>(type));
}

std::string_view dtypeName(DType type) {
    return dtypeInfo(type).name;
}

std::optional<DType> dtypeFromName(std::string_view name) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    for (const DTypeInfo& info : kInfos) {
        std::string infoLower(info.name);
        std::transform(infoLower.begin(), infoLower.end(), infoLower.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (infoLower == lower) return info.type;
    }
    return std::nullopt;
}

} // namespace lathe
