#pragma once
// A whole file mapped read-only into memory. Model files are large and read mostly once, so the
// kernel's page cache serves them and tensors point straight into the mapping (no copies).

#include <cstdint>
#include <filesystem>
#include <span>

namespace lathe {

class MappedFile {
public:
    // Throws lathe::Error (Io) naming the path and the system's reason.
    explicit MappedFile(const std::filesystem::path& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::filesystem::path& path() const { return path_; }
    const uint8_t* data() const { return data_; } // nullptr for an empty file
    uint64_t size() const { return size_; }
    std::span<const uint8_t> bytes() const { return {data_, size_}; }

private:
    std::filesystem::path path_;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
};

} // namespace lathe
