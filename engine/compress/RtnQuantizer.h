#pragma once
// Round-to-nearest weight quantization of a GGUF model into one of ggml's block formats, written as a
// GGUF that llama.cpp loads: every metadata key is kept (tokenizer, chat template, architecture) with
// general.file_type updated, matrices whose rows are whole blocks are re-encoded from their float
// values, and vectors (norms, biases, rope_freqs) are copied as they are. Block formats are RTN by
// construction: Q8_0 is symmetric 8-bit in groups of 32, Q4_0 symmetric 4-bit g32, Q4_1 asymmetric
// 4-bit g32 (scale and minimum), F16 no grouping.
//
// The whole output is assembled in memory, then written atomically (GgufWriter), so a cancelled or
// failed job leaves no file behind.

#include "core/Cancel.h"
#include "core/DType.h"
#include "core/Progress.h"

#include <cstdint>
#include <filesystem>

namespace lathe {

class GgufFile;

struct RtnQuantizeResult {
    int64_t quantizedTensors = 0; // re-encoded in the target format
    int64_t keptTensors = 0;      // copied unchanged (vectors, rows that are not whole blocks)
    uint64_t outputBytes = 0;
};

// llama.cpp's general.file_type for a whole-model format (LLAMA_FTYPE_MOSTLY_*): F16 1, Q4_0 2, Q4_1 3,
// Q8_0 7. Throws lathe::Error (Unsupported) for other formats.
uint32_t llamaFileType(DType format);

RtnQuantizeResult quantizeRtn(const GgufFile& source, DType format, const std::filesystem::path& output,
                              const ProgressFn& progress = {}, const CancelToken& cancel = {});

} // namespace lathe
