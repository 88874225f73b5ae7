#pragma once
// GgufFile: a parsed, validated GGUF v2/v3 file. Metadata is decoded into typed values; tensors
// are views into the file's bytes. The file is untrusted: every count, length, dimension, offset
// and size is checked against the bytes actually present before it is used, and each failure is a
// lathe::Error (InvalidFile, or Unsupported for a well-formed feature Lathe does not read) naming
// the file and the field.

#include "io/GgufValue.h"
#include "io/TensorView.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lathe {

class MappedFile;

inline constexpr uint32_t kGgufDefaultAlignment = 32;
inline constexpr uint32_t kGgufMaxAlignment = 1u << 20; // far above any real file's; bounds padding

class GgufFile {
public:
    // Maps and parses the file at `path`.
    static GgufFile open(const std::filesystem::path& path);
    // Parses bytes owned by the caller, which must outlive the GgufFile (tensor data points into them).
    // `name` stands for the file in error messages.
    static GgufFile fromBytes(std::span<const uint8_t> bytes, std::string name = "<memory>");

    const std::string& name() const { return name_; }
    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    uint64_t dataOffset() const { return dataOffset_; } // start of the tensor data section
    uint64_t fileSize() const { return bytes_.size(); }
    const std::shared_ptr<MappedFile>& mapping() const { return mapping_; } // null for fromBytes

    // Metadata in file order.
    const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
    const GgufValue* find(const std::string& key) const;
    bool has(const std::string& key) const { return find(key) != nullptr; }

    // Typed accessors: nullopt when the key is absent; lathe::Error (InvalidFile) naming the key when
    // it holds an incompatible type or a value out of the requested range.
    std::optional<uint32_t> getU32(const std::string& key) const; // any integer type that fits
    std::optional<int32_t> getI32(const std::string& key) const;
    std::optional<uint64_t> getU64(const std::string& key) const;
    std::optional<float> getF32(const std::string& key) const; // f32 or f64
    std::optional<bool> getBool(const std::string& key) const;
    std::optional<std::string> getString(const std::string& key) const;
    std::optional<std::vector<std::string>> getStringArray(const std::string& key) const;
    std::optional<std::vector<float>> getF32Array(const std::string& key) const;   // f32 or f64 elements
    std::optional<std::vector<int32_t>> getI32Array(const std::string& key) const; // integers that fit

    // Tensors in file order.
    const std::vector<TensorView>& tensors() const { return tensors_; }
    const TensorView* findTensor(const std::string& name) const;

private:
    GgufFile() = default;
    void parse();
    const GgufValue* findTyped(const std::string& key) const;

    std::string name_;
    std::shared_ptr<MappedFile> mapping_;
    std::span<const uint8_t> bytes_;
    uint32_t version_ = 0;
    uint32_t alignment_ = kGgufDefaultAlignment;
    uint64_t dataOffset_ = 0;
    std::vector<std::pair<std::string, GgufValue>> metadata_;
    std::unordered_map<std::string, size_t> metadataIndex_;
    std::vector<TensorView> tensors_;
    std::unordered_map<std::string, size_t> tensorIndex_;
};

} // namespace lathe
