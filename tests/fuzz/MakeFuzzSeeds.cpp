// Writes the seed corpora of the fuzz targets: small valid files of each kind, so the fuzzer starts
// from deep inside the parsers. Usage: MakeFuzzSeeds CORPUS_DIR
// (creates CORPUS_DIR/FuzzGguf and CORPUS_DIR/FuzzSafetensors).

#include "IoTestFiles.h"

#include <filesystem>
#include <fstream>
#include <iostream>

namespace {

void save(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), long(bytes.size()));
}

void save(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

} // namespace

int main(int argc, char** argv) {
    using namespace lathe;
    if (argc != 2) {
        std::cerr << "usage: MakeFuzzSeeds CORPUS_DIR\n";
        return 2;
    }
    const std::filesystem::path root = argv[1];
    const auto gguf = root / "FuzzGguf", st = root / "FuzzSafetensors";
    std::filesystem::create_directories(gguf);
    std::filesystem::create_directories(st);

    test::TinyModelShape shape;
    shape.nLayers = 1;
    shape.nEmbd = 32;
    shape.nHeads = 2;
    shape.nHeadsKv = 1;
    shape.nFf = 32;
    shape.vocab = 6;
    save(gguf / "tiny-q8_0.gguf", test::tinyModelWriter(shape).writeToBytes());
    shape.matrixType = DType::Q4_1;
    shape.arch = "qwen2";
    shape.qkvBias = true;
    shape.tied = false;
    save(gguf / "tiny-qwen2-q4_1.gguf", test::tinyModelWriter(shape).writeToBytes());

    GgufWriter kinds;
    kinds.set("u8", {uint8_t(1)});
    kinds.set("i16", {int16_t(-2)});
    kinds.set("u64", {uint64_t(3)});
    kinds.set("f64", {0.5});
    kinds.setBool("b", true);
    kinds.set("bools", {GgufArray(std::vector<bool>{true, false})});
    kinds.setU32("general.alignment", 64);
    for (DType t : {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K, DType::Q5_0,
                    DType::Q5_1, DType::BF16, DType::F16}) {
        const auto& info = dtypeInfo(t);
        std::vector<uint8_t> bytes(info.blockBytes);
        for (size_t i = 0; i < bytes.size(); ++i)
            bytes[i] = uint8_t(i * 7);
        kinds.addTensor("t." + std::string(info.name), t, {int64_t(info.blockSize)}, bytes);
    }
    save(gguf / "kinds.gguf", kinds.writeToBytes());

    test::SafetensorsBuilder s;
    s.addF32("model.embed_tokens.weight", {2, 4}, test::randomFloats(8, 1));
    s.add("model.norm.weight", "F16", {4}, std::vector<uint8_t>(8, 0x3c));
    s.add("lm_head.weight", "BF16", {2, 2}, std::vector<uint8_t>(8, 0x3f));
    s.header["__metadata__"] = {{"format", "pt"}};
    save(st / "small.safetensors", s.build());
    save(st / "index.json",
         std::string(R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors"}})"));
    save(st / "config.json",
         std::string(
             R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100, "max_position_embeddings": 256,
           "rope_scaling": {"rope_type": "llama3", "factor": 8.0}})"));
    return 0;
}
