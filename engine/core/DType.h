#pragma once
// Element and block formats of stored tensors. Values are GGUF's type ids, plus Lathe's own formats
// from 1000 up, outside GGUF's range (stored in files and in the run store — never renumber). A file
// holding a Lathe-own type loads in Lathe only; llama.cpp refuses its unknown type id.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace lathe {

enum class DType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    BF16 = 30,
    // Lathe's own formats (io/Quants.h holds their layouts).
    LQ3_64 = 1000, // 3-bit asymmetric codes, blocks of 64: half d, m; u8 qs[24] (3.5 bits per weight)
};

struct DTypeInfo {
    DType type;
    std::string_view name; // as llama.cpp prints it: "f32", "q4_1", "q6_K"
    uint32_t blockSize;    // elements per block (1 for plain types)
    uint32_t blockBytes;   // bytes per block
    bool isQuantized;
};

// Info for a known type id, or nullopt for ids Lathe does not read (e.g. IQ formats).
std::optional<DTypeInfo> dtypeInfoFor(uint32_t typeId);
// Info for a known type; DType values are always known.
const DTypeInfo& dtypeInfo(DType type);
std::string_view dtypeName(DType type);
// Parses "q4_1", "F16", "bf16" ... (case-insensitive); nullopt if unknown.
std::optional<DType> dtypeFromName(std::string_view name);

// Bytes of a row of n elements; n must be a multiple of the block size (the caller validates).
inline uint64_t rowBytes(DType type, uint64_t n) {
    const DTypeInfo& info = dtypeInfo(type);
    return n / info.blockSize * info.blockBytes;
}

} // namespace lathe
