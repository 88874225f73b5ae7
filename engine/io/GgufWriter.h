#pragma once
// GgufWriter: builds a GGUF v3 file from typed metadata and tensors, in the layout llama.cpp reads
// (tensor data aligned to `general.alignment`, 32 by default). Files are written atomically: a
// temporary file in the same folder is filled, fsync'ed and renamed over the target, so a failure
// (disk full, cancel) never leaves a half-written model behind.

#include "core/DType.h"
#include "io/GgufValue.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace lathe {

class GgufWriter {
public:
    GgufWriter() = default;

    // Adds or replaces a key. Setting "general.alignment" (u32, a power of two) changes the alignment.
    void set(const std::string& key, GgufValue value);
    void setU32(const std::string& key, uint32_t v) { set(key, {v}); }
    void setI32(const std::string& key, int32_t v) { set(key, {v}); }
    void setU64(const std::string& key, uint64_t v) { set(key, {v}); }
    void setF32(const std::string& key, float v) { set(key, {v}); }
    void setBool(const std::string& key, bool v) { set(key, {v}); }
    void setString(const std::string& key, std::string v) { set(key, {std::move(v)}); }
    void setStringArray(const std::string& key, std::vector<std::string> v) {
        set(key, {GgufArray(std::move(v))});
    }
    void setF32Array(const std::string& key, std::vector<float> v) { set(key, {GgufArray(std::move(v))}); }
    void setI32Array(const std::string& key, std::vector<int32_t> v) { set(key, {GgufArray(std::move(v))}); }

    // Adds a tensor. `shape` is in ggml order (shape[0] contiguous), 1..4 dims; `bytes` must hold exactly
    // the tensor's size. The first form copies the bytes; the second only points at them, and the caller
    // keeps them alive until the last write.
    void addTensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                   std::span<const uint8_t> bytes);
    void addTensorView(const std::string& name, DType dtype, std::vector<int64_t> shape,
                       std::span<const uint8_t> bytes);

    uint32_t alignment() const { return alignment_; }
    size_t tensorCount() const { return tensors_.size(); }

    // Writes the file atomically (see above). Throws lathe::Error (Io) naming the path and the reason.
    void writeFile(const std::filesystem::path& path) const;
    std::vector<uint8_t> writeToBytes() const;

private:
    struct Tensor {
        std::string name;
        DType dtype;
        std::vector<int64_t> shape;
        std::vector<uint8_t> owned;
        std::span<const uint8_t> bytes;
    };
    using Sink = std::function<void(const void* data, size_t size)>;
    void write(const Sink& sink) const;
    void addTensorImpl(Tensor tensor);

    std::vector<std::pair<std::string, GgufValue>> metadata_;
    std::vector<Tensor> tensors_;
    uint32_t alignment_ = 32;
};

} // namespace lathe
