// The synthetic model writer: a tiny shape is written in each format and opened with openModelFiles,
// whose validation checks every tensor's shape against the configuration; the test then checks the
// configuration, formats, vocabulary and that the quantized weights decode to the writer's range.
// The named presets are checked for the published shapes of the real models.

#include "GpuTest.h"
#include "TinySyntheticShape.h"
#include "io/ModelFiles.h"
#include "io/Quants.h"
#include "io/SyntheticModel.h"
#include "model/RopeFreqFactors.h"
#include "tokenizer/Tokenizer.h"

#include <cmath>
#include <filesystem>
#include <unistd.h>

using namespace lathe;

namespace {

SyntheticModelShape tinyShape() {
    return test::tinySyntheticShape(
        30000 /* holds the merge of every byte pair starting below 116: "ab" included */);
}

std::filesystem::path tempPath(const char* name) {
    return std::filesystem::temp_directory_path() /
           (std::string("lathe-synth-") + std::to_string(getpid()) + name);
}

} // namespace

TEST_CASE(presetsHaveThePublishedShapes) {
    const auto l8 = syntheticModelShape("llama3-8b");
    CHECK(l8 && l8->config.nLayers == 32 && l8->config.nEmbd == 4096 && l8->config.nFf == 14336 &&
          l8->config.nHeadsKv == 8 && l8->config.vocabSize == 128256 && !l8->config.tiedEmbeddings);
    const auto l1 = syntheticModelShape("llama3.2-1b");
    CHECK(l1 && l1->config.nLayers == 16 && l1->config.nEmbd == 2048 && l1->config.nFf == 8192 &&
          l1->config.headDim == 64 && l1->config.tiedEmbeddings && l1->config.ropeLlama3.factor == 32.0f);
    const auto s = syntheticModelShape("smollm2-135m");
    CHECK(s && s->config.nLayers == 30 && s->config.nEmbd == 576 && s->config.nHeads == 9 &&
          s->config.nHeadsKv == 3 && s->config.nFf == 1536 && s->config.vocabSize == 49152);
    CHECK(!syntheticModelShape("gpt-5"));
}

TEST_CASE(tinyModelLoadsInEachFormat) {
    for (DType dtype : {DType::F16, DType::Q8_0, DType::Q4_0}) {
        const std::filesystem::path path = tempPath(".gguf");
        const uint64_t written = writeSyntheticModel(path, tinyShape(), dtype, 5);
        CHECK(written == std::filesystem::file_size(path));
        const ModelFiles files = openModelFiles(path);
        CHECK(files.config.nLayers == 2 && files.config.nEmbd == 64 && files.config.nFf == 96);
        CHECK(files.config.nHeads == 2 && files.config.nHeadsKv == 1 && files.config.vocabSize == 30000);
        CHECK(!files.config.tiedEmbeddings);
        CHECK(files.tokenizer.tokens.size() == 30000);
        CHECK(files.tokenizer.tokens[files.tokenizer.eosId] == "<|im_end|>");
        // The vocabulary is a working byte-level BPE: text round-trips, and "ab" is one merged token.
        const Tokenizer tokenizer(files.tokenizer);
        const std::vector<int32_t> ids = tokenizer.encode("Hello, world!\n", false, false);
        CHECK(!ids.empty() && tokenizer.decode(ids) == "Hello, world!\n");
        CHECK(tokenizer.encode("ab", false, false).size() == 1);
        const TensorView& up = files.tensor("blk.1.ffn_up.weight");
        CHECK(up.dtype == dtype && up.shape[0] == 64 && up.shape[1] == 96);
        CHECK(files.tensor("blk.0.attn_norm.weight").dtype == DType::F32);
        std::vector<float> row(64);
        dequantizeRow(up.dtype, up.row(95), row.data(), 64);
        float maxAbs = 0.0f;
        for (float v : row)
            maxAbs = std::max(maxAbs, std::fabs(v));
        CHECK(maxAbs > 0.005f && maxAbs < 0.021f); // weights are uniform in [-0.02, 0.02)
        std::filesystem::remove(path);
    }
}

TEST_CASE(rejectsFormatsItCannotWrite) {
    bool threw = false;
    try {
        writeSyntheticModel(tempPath(".bad.gguf"), tinyShape(), DType::Q4_K);
    } catch (const std::exception&) {
        threw = true;
    }
    CHECK(threw);
}

// Llama-3 rope scaling goes into the file as llama.cpp's converter writes it: the divisors in a
// rope_freqs.weight tensor and no scaling keys (llama.cpp rejects a "llama3" scaling type, and a
// scaling factor key alone would read as linear scaling).
TEST_CASE(llama3RopeScalingIsARopeFreqsTensor) {
    SyntheticModelShape s = tinyShape();
    s.config.ropeLlama3 = syntheticModelShape("llama3.2-1b")->config.ropeLlama3;
    s.config.ropeFreqBase = 500000.0f;
    const std::filesystem::path path = tempPath("-rope.gguf");
    writeSyntheticModel(path, s, DType::Q8_0, 3);
    {
        const ModelFiles files = openModelFiles(path);
        const TensorView* freqs = files.findTensor("rope_freqs.weight");
        CHECK(freqs != nullptr);
        if (freqs) {
            CHECK(freqs->dtype == DType::F32 && freqs->elementCount() == 16);
            const std::vector<float> want = ropeLlama3FreqFactors(s.config.ropeLlama3, 32, 500000.0f);
            std::vector<float> got(16);
            dequantizeRow(freqs->dtype, freqs->data, got.data(), 16);
            CHECK(got == want);
            CHECK(want.back() > 1.0f); // the low frequencies are scaled
        }
        CHECK(files.config.ropeLlama3.factor == 0.0f); // no scaling keys
    }
    std::filesystem::remove(path);
}

int main() {
    return lathe::gputest::runAll();
}
