#include "compress/RtnQuantizer.h"

#include "core/Error.h"
#include "io/GgufReader.h"
#include "io/GgufWriter.h"
#include "io/Quants.h"

#include <string_view>
#include <vector>

namespace lathe {

uint32_t llamaFileType(DType format) {
    switch (format) {
    case DType::F16:
        return 1;
    case DType::Q4_0:
        return 2;
    case DType::Q4_1:
        return 3;
    case DType::Q8_0:
        return 7;
    default:
        fail(ErrorCategory::Unsupported, "quantize: {} is not a target format (f16, q8_0, q4_0, q4_1)",
             dtypeName(format));
    }
}

RtnQuantizeResult quantizeRtn(const GgufFile& source, DType format, const std::filesystem::path& output,
                              const ProgressFn& progress, const CancelToken& cancel) {
    const uint32_t fileType = llamaFileType(format);
    const int64_t block = dtypeInfo(format).blockSize;
    GgufWriter writer;
    for (const auto& [key, value] : source.metadata())
        writer.set(key, value);
    writer.setU32("general.file_type", fileType);
    if (format != DType::F16) writer.setU32("general.quantization_version", 2);

    RtnQuantizeResult result;
    std::vector<float> row;
    const std::vector<TensorView>& tensors = source.tensors();
    for (size_t i = 0; i < tensors.size(); ++i) {
        cancel.throwIfCancelled();
        const TensorView& t = tensors[i];
        std::vector<int64_t> shape(t.shape.begin(), t.shape.begin() + std::max(t.nDims, 1));
        const int64_t cols = t.rowLength(), rows = t.rowCount();
        const bool matrix = t.nDims >= 2 && rows > 1 && cols % block == 0 && canDequantize(t.dtype);
        if (!matrix || t.dtype == format) {
            writer.addTensorView(t.name, t.dtype, shape, std::span(t.data, size_t(t.nbytes)));
            ++result.keptTensors;
        } else {
            const uint64_t outRow = rowBytes(format, uint64_t(cols));
            std::vector<uint8_t> bytes(size_t(outRow * uint64_t(rows)));
            row.resize(size_t(cols));
            for (int64_t r = 0; r < rows; ++r) {
                dequantizeRow(t.dtype, t.row(r), row.data(), cols);
                quantizeRow(format, row.data(), bytes.data() + size_t(r) * outRow, cols);
            }
            writer.addTensor(t.name, format, shape, bytes);
            ++result.quantizedTensors;
        }
        if (progress) progress(0.95 * double(i + 1) / double(tensors.size()), t.name);
    }
    cancel.throwIfCancelled();
    writer.writeFile(output);
    result.outputBytes = std::filesystem::file_size(output);
    if (progress) progress(1.0, "written");
    return result;
}

} // namespace lathe
