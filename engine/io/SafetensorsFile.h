#pragma once
// SafetensorsFile: a parsed, validated .safetensors file (8-byte little-endian header length, a JSON
// header mapping tensor names to dtype/shape/data_offsets, then the data). Tensors are views into
// the mapped file, in ggml's dimension order (shape[0] is the innermost, i.e. the reversed
// safetensors shape). Only F32, F16 and BF16 tensors are read; anything else is Unsupported.

#include "io/TensorView.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace lathe {

class MappedFile;

inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100ull * 1000 * 1000;

class SafetensorsFile {
public:
    static SafetensorsFile open(const std::filesystem::path& path);
    // Parses bytes owned by the caller, which must outlive the object. `name` is used in errors.
    static SafetensorsFile fromBytes(std::span<const uint8_t> bytes, std::string name = "<memory>");

    const std::string& name() const { return name_; }
    const std::vector<TensorView>& tensors() const { return tensors_; } // in data order
    const TensorView* findTensor(const std::string& name) const;
    const std::shared_ptr<MappedFile>& mapping() const { return mapping_; } // null for fromBytes

private:
    SafetensorsFile() = default;
    void parse();

    std::string name_;
    std::shared_ptr<MappedFile> mapping_;
    std::span<const uint8_t> bytes_;
    std::vector<TensorView> tensors_;
    std::unordered_map<std::string, size_t> index_;
};

// Reads model.safetensors.index.json: tensor name -> shard file name (relative to the index's folder).
// Shard names must be plain file names (no folders, no "..").
std::map<std::string, std::string> readSafetensorsIndex(const std::filesystem::path& path);
std::map<std::string, std::string> parseSafetensorsIndex(const std::string& jsonText,
                                                         const std::string& name);

} // namespace lathe
