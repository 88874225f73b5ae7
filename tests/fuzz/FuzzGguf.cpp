// libFuzzer target: GGUF parsing and everything the loader reads from a parsed file (typed
// metadata, model config, tokenizer spec, the first row of every tensor through its dequantizer).
// Any exception other than lathe::Error, any sanitizer report or any crash is a finding.

#include "core/Error.h"
#include "io/GgufReader.h"
#include "io/ModelLoader.h"
#include "io/Quants.h"

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace lathe;
    try {
        const GgufFile f = GgufFile::fromBytes({data, size}, "fuzz.gguf");
        try {
            (void)modelConfigFromGguf(f);
        } catch (const Error&) {
        }
        try {
            (void)tokenizerSpecFromGguf(f);
        } catch (const Error&) {
        }
        std::vector<float> row;
        for (const TensorView& t : f.tensors()) {
            if (!canDequantize(t.dtype) || t.shape[0] > 4096) continue;
            row.resize(size_t(t.shape[0]));
            dequantizeRow(t.dtype, t.row(0), row.data(), t.shape[0]);
        }
    } catch (const Error&) {
    }
    return 0;
}
