// libFuzzer target: safetensors parsing, and the same bytes read as the JSON of an index file and of
// a Hugging Face config.json. Any exception other than lathe::Error, sanitizer report or crash is a finding.

#include "core/Error.h"
#include "io/ModelLoader.h"
#include "io/SafetensorsFile.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace lathe;
    try {
        const SafetensorsFile f = SafetensorsFile::fromBytes({data, size}, "fuzz.safetensors");
        for (const TensorView& t : f.tensors())
            if (t.nbytes > 0) (void)t.data[t.nbytes - 1]; // every view must lie inside the input
    } catch (const Error&) {
    }
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        (void)parseSafetensorsIndex(text, "fuzz.index.json");
    } catch (const Error&) {
    }
    try {
        modelConfigFromHfConfig(text, "fuzz.config.json").validate();
    } catch (const Error&) {
    }
    return 0;
}
