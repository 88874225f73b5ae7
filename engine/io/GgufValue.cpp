#include "io/GgufValue.h"

#include <array>

namespace lathe {
namespace {

constexpr std::array<std::string_view, 13> kTypeNames = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};

} // namespace

std::string_view ggufTypeName(GgufType type) {
    const auto id = uint32_t(type);
    return id < kTypeNames.size() ? kTypeNames[id] : std::string_view("unknown");
}

uint32_t ggufScalarSize(GgufType type) {
    switch (type) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::Bool:
        return 1;
    case GgufType::U16:
    case GgufType::I16:
        return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
        return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
        return 8;
    case GgufType::String:
    case GgufType::Array:
        return 0;
    }
    return 0;
}

std::optional<GgufType> ggufTypeFor(uint32_t id) {
    if (id <= uint32_t(GgufType::F64)) return GgufType(id);
    return std::nullopt;
}

GgufType GgufValue::elementType() const {
    const auto& array = std::get<GgufArray>(value);
    const auto index = uint32_t(array.index());
    return GgufType(index < uint32_t(GgufType::Array) ? index : index + 1);
}

uint64_t GgufValue::arraySize() const {
    if (!isArray()) return 0;
    return std::visit([](const auto& elements) { return uint64_t(elements.size()); },
                      std::get<GgufArray>(value));
}

std::optional<int64_t> GgufValue::asInt64() const {
    return std::visit(
        [](const auto& v) -> std::optional<int64_t> {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
                if constexpr (std::is_same_v<T, uint64_t>)
                    if (v > uint64_t(INT64_MAX)) return std::nullopt;
                return int64_t(v);
            }
            return std::nullopt;
        },
        value);
}

std::optional<uint64_t> GgufValue::asUint64() const {
    return std::visit(
        [](const auto& v) -> std::optional<uint64_t> {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
                if constexpr (std::is_signed_v<T>)
                    if (v < 0) return std::nullopt;
                return uint64_t(v);
            }
            return std::nullopt;
        },
        value);
}

std::string GgufValue::typeName() const {
    if (!isArray()) return std::string(ggufTypeName(type()));
    return "array[" + std::string(ggufTypeName(elementType())) + "]";
}

} // namespace lathe
