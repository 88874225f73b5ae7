#pragma once
// One GGUF metadata value: a scalar, a string or an array of scalars/strings (arrays of arrays are
// not allowed — llama.cpp never writes them and they invite unbounded recursion).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lathe {

// GGUF's value type ids (stored in files — never renumber).
enum class GgufType : uint32_t {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
};

std::string_view ggufTypeName(GgufType type);
// Bytes of one element in a file, or 0 for strings (variable) and arrays.
uint32_t ggufScalarSize(GgufType type);
std::optional<GgufType> ggufTypeFor(uint32_t id);

// Alternative index == element GgufType id, skipping Array (ids 10..12 sit at 9..11).
using GgufArray =
    std::variant<std::vector<uint8_t>, std::vector<int8_t>, std::vector<uint16_t>, std::vector<int16_t>,
                 std::vector<uint32_t>, std::vector<int32_t>, std::vector<float>, std::vector<bool>,
                 std::vector<std::string>, std::vector<uint64_t>, std::vector<int64_t>, std::vector<double>>;

struct GgufValue {
    // Alternative index == GgufType id.
    using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                                 std::string, GgufArray, uint64_t, int64_t, double>;
    Storage value;

    GgufType type() const { return GgufType(value.index()); }
    bool isArray() const { return type() == GgufType::Array; }
    // Element type of an array (only when isArray()).
    GgufType elementType() const;
    uint64_t arraySize() const; // 0 for scalars

    // Integer value of any integer type, nullopt for other types.
    std::optional<int64_t> asInt64() const;
    std::optional<uint64_t> asUint64() const;
    // "u32", "array[string]"... for error messages.
    std::string typeName() const;
};

} // namespace lathe
