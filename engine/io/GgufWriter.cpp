#include "io/GgufWriter.h"

#include "core/CheckedMath.h"
#include "core/Error.h"
#include "io/GgufEncoder.h"
#include "io/GgufReader.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_set>

namespace lathe {
namespace {

constexpr size_t kMaxGgmlNameBytes = 63; // GGML_MAX_NAME (64) includes the terminator

uint64_t padTo(uint64_t n, uint64_t alignment) {
    return (n + alignment - 1) / alignment * alignment;
}

// Deletes the temporary file unless the write completed and it was renamed into place.
class TempFile {
public:
    explicit TempFile(const std::filesystem::path& target) {
        std::string name = ".";
        name += target.filename().string();
        name += ".tmp-XXXXXX";
        pattern_ = (target.parent_path() / name).string();
        fd_ = ::mkstemp(pattern_.data());
        if (fd_ < 0)
            fail(ErrorCategory::Io, "cannot create a temporary file next to {}: {}", target.string(),
                 std::strerror(errno));
        ::fchmod(fd_, 0644); // mkstemp makes 0600; a model file is ordinary user data
    }
    ~TempFile() {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_) ::unlink(pattern_.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;

    void write(const void* data, size_t size, const std::filesystem::path& target) {
        const auto* p = static_cast<const uint8_t*>(data);
        while (size > 0) {
            const ssize_t n = ::write(fd_, p, size);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                const int err = n < 0 ? errno : ENOSPC;
                fail(ErrorCategory::Io, "cannot write {}: {}{}", target.string(), std::strerror(err),
                     err == ENOSPC ? " (disk full)" : "");
            }
            p += n;
            size -= size_t(n);
        }
    }

    void commit(const std::filesystem::path& target) {
        if (::fsync(fd_) != 0)
            fail(ErrorCategory::Io, "cannot flush {}: {}", target.string(), std::strerror(errno));
        const int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0)
            fail(ErrorCategory::Io, "cannot close {}: {}", target.string(), std::strerror(errno));
        if (::rename(pattern_.c_str(), target.c_str()) != 0)
            fail(ErrorCategory::Io, "cannot rename {} to {}: {}", pattern_, target.string(),
                 std::strerror(errno));
        committed_ = true;
        // Make the rename itself durable; failure here does not undo a complete file.
        const std::filesystem::path folder = target.has_parent_path() ? target.parent_path() : ".";
        const int dirFd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirFd >= 0) {
            ::fsync(dirFd);
            ::close(dirFd);
        }
    }

private:
    std::string pattern_;
    int fd_ = -1;
    bool committed_ = false;
};

} // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
    if (key.empty()) fail(ErrorCategory::InvalidArgument, "GGUF key must not be empty");
    if (value.isArray() && value.elementType() == GgufType::Array)
        fail(ErrorCategory::InvalidArgument, "GGUF key '{}': arrays of arrays are not supported", key);
    if (key == "general.alignment") {
        const auto* a = std::get_if<uint32_t>(&value.value);
        if (!a || *a == 0 || (*a & (*a - 1)) != 0 || *a > kGgufMaxAlignment)
            fail(ErrorCategory::InvalidArgument, "general.alignment must be a u32 power of two up to {}",
                 kGgufMaxAlignment);
        alignment_ = *a;
    }
    for (auto& [k, v] : metadata_) {
        if (k == key) {
            v = std::move(value);
            return;
        }
    }
    metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::addTensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                           std::span<const uint8_t> bytes) {
    Tensor t{name, dtype, std::move(shape), std::vector<uint8_t>(bytes.begin(), bytes.end()), {}};
    t.bytes = t.owned;
    addTensorImpl(std::move(t));
}

void GgufWriter::addTensorView(const std::string& name, DType dtype, std::vector<int64_t> shape,
                               std::span<const uint8_t> bytes) {
    addTensorImpl(Tensor{name, dtype, std::move(shape), {}, bytes});
}

void GgufWriter::addTensorImpl(Tensor t) {
    if (t.name.empty() || t.name.size() > kMaxGgmlNameBytes)
        fail(ErrorCategory::InvalidArgument, "tensor name '{}' must be 1..{} bytes", t.name,
             kMaxGgmlNameBytes);
    for (const Tensor& other : tensors_)
        if (other.name == t.name) fail(ErrorCategory::InvalidArgument, "tensor '{}' added twice", t.name);
    if (t.shape.empty() || t.shape.size() > 4)
        fail(ErrorCategory::InvalidArgument, "tensor '{}': {} dimensions (must be 1..4)", t.name,
             t.shape.size());
    const DTypeInfo& info = dtypeInfo(t.dtype);
    uint64_t elements = 1;
    for (int64_t d : t.shape) {
        if (d < 1) fail(ErrorCategory::InvalidArgument, "tensor '{}': dimension {} must be >= 1", t.name, d);
        elements = checkedMul(elements, uint64_t(d), t.name);
    }
    if (uint64_t(t.shape[0]) % info.blockSize != 0)
        fail(ErrorCategory::InvalidArgument,
             "tensor '{}': row length {} is not a multiple of the {} block size {}", t.name, t.shape[0],
             info.name, info.blockSize);
    const uint64_t expected = elements / info.blockSize * info.blockBytes;
    if (t.bytes.size() != expected)
        fail(ErrorCategory::InvalidArgument, "tensor '{}': {} bytes given, {} expected for {} {}", t.name,
             t.bytes.size(), expected, info.name, elements);
    tensors_.push_back(std::move(t));
}

void GgufWriter::write(const Sink& sink) const {
    std::vector<uint8_t> header;
    GgufEncoder enc(header);
    header.reserve(4096);
    enc.scalar<uint32_t>(0x46554747u); // "GGUF" read as a little-endian u32
    enc.scalar<uint32_t>(3);
    enc.scalar<uint64_t>(tensors_.size());
    enc.scalar<uint64_t>(metadata_.size());
    for (const auto& [key, value] : metadata_)
        enc.keyValue(key, value);
    uint64_t offset = 0;
    for (const Tensor& t : tensors_) {
        enc.string(t.name);
        enc.scalar<uint32_t>(uint32_t(t.shape.size()));
        for (int64_t d : t.shape)
            enc.scalar<uint64_t>(uint64_t(d));
        enc.scalar<uint32_t>(uint32_t(t.dtype));
        enc.scalar<uint64_t>(offset);
        offset = padTo(offset + t.bytes.size(), alignment_);
    }
    header.resize(padTo(header.size(), alignment_), 0);
    sink(header.data(), header.size());
    static const std::vector<uint8_t> zeros(kGgufMaxAlignment, 0);
    for (const Tensor& t : tensors_) {
        sink(t.bytes.data(), t.bytes.size());
        const uint64_t padding = padTo(t.bytes.size(), alignment_) - t.bytes.size();
        if (padding) sink(zeros.data(), padding);
    }
}

std::vector<uint8_t> GgufWriter::writeToBytes() const {
    std::vector<uint8_t> out;
    write([&](const void* data, size_t size) {
        const auto* p = static_cast<const uint8_t*>(data);
        out.insert(out.end(), p, p + size);
    });
    return out;
}

void GgufWriter::writeFile(const std::filesystem::path& path) const {
    TempFile temp(path);
    write([&](const void* data, size_t size) { temp.write(data, size, path); });
    temp.commit(path);
}

} // namespace lathe
