#include "io/MappedFile.h"

#include "core/Error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lathe {
namespace {

// Closes the descriptor on every path out of the constructor; the mapping outlives it.
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) ::close(fd);
    }
};

} // namespace

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
    const FdGuard guard{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (guard.fd < 0) fail(ErrorCategory::Io, "cannot open {}: {}", path.string(), std::strerror(errno));
    struct stat st {};
    if (::fstat(guard.fd, &st) != 0)
        fail(ErrorCategory::Io, "cannot stat {}: {}", path.string(), std::strerror(errno));
    if (S_ISDIR(st.st_mode)) fail(ErrorCategory::Io, "cannot map {}: it is a folder", path.string());
    if (!S_ISREG(st.st_mode)) fail(ErrorCategory::Io, "cannot map {}: not a regular file", path.string());
    size_ = uint64_t(st.st_size);
    if (size_ == 0) return; // mmap rejects length 0; an empty file is a valid (empty) mapping
    void* mapped = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, guard.fd, 0);
    if (mapped == MAP_FAILED)
        fail(ErrorCategory::Io, "cannot map {} ({} bytes): {}", path.string(), size_, std::strerror(errno));
    data_ = static_cast<const uint8_t*>(mapped);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

} // namespace lathe
