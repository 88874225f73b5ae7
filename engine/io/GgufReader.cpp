#include "io/GgufReader.h"

#include "core/CheckedMath.h"
#include "core/DType.h"
#include "core/Error.h"
#include "io/MappedFile.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

namespace lathe {
namespace {

constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kMaxTensorNameBytes = 1024; // ggml's own limit is 64; longer names are hostile
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;    // key length, type, smallest value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8; // name length, n_dims, one dim, type, offset

// A bounds-checked little-endian cursor over the file. Every read names what it reads.
class Cursor {
public:
    Cursor(std::span<const uint8_t> bytes, const std::string& file) : bytes_(bytes), file_(file) {}

    uint64_t position() const { return pos_; }
    uint64_t left() const { return bytes_.size() - pos_; }
    const std::string& file() const { return file_; }

    const uint8_t* take(uint64_t count, std::string_view what) {
        if (count > left())
            fail(ErrorCategory::InvalidFile, "{}: {} at offset {} needs {} bytes but only {} remain", file_,
                 what, pos_, count, left());
        const uint8_t* p = bytes_.data() + pos_;
        pos_ += count;
        return p;
    }

    template <typename T> T scalar(std::string_view what) {
        static_assert(std::is_trivially_copyable_v<T>);
        T value;
        std::memcpy(&value, take(sizeof(T), what), sizeof(T));
        return value;
    }

    std::string string(std::string_view what, uint64_t maxBytes = std::numeric_limits<uint64_t>::max()) {
        const auto length = scalar<uint64_t>(what);
        if (length > left())
            fail(ErrorCategory::InvalidFile, "{}: {} at offset {} has length {} but only {} bytes remain",
                 file_, what, pos_ - 8, length, left());
        if (length > maxBytes)
            fail(ErrorCategory::InvalidFile, "{}: {} is {} bytes long (limit {})", file_, what, length,
                 maxBytes);
        const uint8_t* p = take(length, what);
        return std::string(reinterpret_cast<const char*>(p), length);
    }

    // A count of elements each taking at least `minBytes` must fit in what is left.
    uint64_t count(std::string_view what, uint64_t minBytes) {
        const auto n = scalar<uint64_t>(what);
        if (n > left() / minBytes)
            fail(ErrorCategory::InvalidFile, "{}: {} is {} but only {} bytes remain at offset {}", file_,
                 what, n, left(), pos_);
        return n;
    }

private:
    std::span<const uint8_t> bytes_;
    const std::string& file_;
    uint64_t pos_ = 0;
};

bool readBool(Cursor& in, std::string_view what) {
    const auto b = in.scalar<uint8_t>(what);
    if (b > 1)
        fail(ErrorCategory::InvalidFile, "{}: {} is a bool with value {} (must be 0 or 1)", in.file(), what,
             b);
    return b == 1;
}

GgufType readType(Cursor& in, std::string_view what) {
    const auto id = in.scalar<uint32_t>(what);
    const auto type = ggufTypeFor(id);
    if (!type) fail(ErrorCategory::InvalidFile, "{}: {} has unknown value type {}", in.file(), what, id);
    return *type;
}

template <typename T> std::vector<T> readScalarArray(Cursor& in, uint64_t n, std::string_view what) {
    std::vector<T> out;
    out.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<T, bool>)
            out.push_back(readBool(in, what));
        else
            out.push_back(in.scalar<T>(what));
    }
    return out;
}

GgufArray readArray(Cursor& in, const std::string& key) {
    const GgufType element = readType(in, key);
    if (element == GgufType::Array)
        fail(ErrorCategory::InvalidFile, "{}: key '{}' is an array of arrays (not supported)", in.file(),
             key);
    const uint64_t minBytes = element == GgufType::String ? 8 : ggufScalarSize(element);
    const uint64_t n = in.count(fmt::format("array count of key '{}'", key), minBytes);
    switch (element) {
    case GgufType::U8:
        return readScalarArray<uint8_t>(in, n, key);
    case GgufType::I8:
        return readScalarArray<int8_t>(in, n, key);
    case GgufType::U16:
        return readScalarArray<uint16_t>(in, n, key);
    case GgufType::I16:
        return readScalarArray<int16_t>(in, n, key);
    case GgufType::U32:
        return readScalarArray<uint32_t>(in, n, key);
    case GgufType::I32:
        return readScalarArray<int32_t>(in, n, key);
    case GgufType::F32:
        return readScalarArray<float>(in, n, key);
    case GgufType::Bool:
        return readScalarArray<bool>(in, n, key);
    case GgufType::U64:
        return readScalarArray<uint64_t>(in, n, key);
    case GgufType::I64:
        return readScalarArray<int64_t>(in, n, key);
    case GgufType::F64:
        return readScalarArray<double>(in, n, key);
    case GgufType::String: {
        std::vector<std::string> out;
        out.reserve(n);
        const std::string what = fmt::format("string in array '{}'", key);
        for (uint64_t i = 0; i < n; ++i)
            out.push_back(in.string(what));
        return out;
    }
    case GgufType::Array:
        break;
    }
    fail(ErrorCategory::Internal, "unhandled GGUF array type");
}

GgufValue readValue(Cursor& in, const std::string& key) {
    const GgufType type = readType(in, fmt::format("type of key '{}'", key));
    switch (type) {
    case GgufType::U8:
        return {in.scalar<uint8_t>(key)};
    case GgufType::I8:
        return {in.scalar<int8_t>(key)};
    case GgufType::U16:
        return {in.scalar<uint16_t>(key)};
    case GgufType::I16:
        return {in.scalar<int16_t>(key)};
    case GgufType::U32:
        return {in.scalar<uint32_t>(key)};
    case GgufType::I32:
        return {in.scalar<int32_t>(key)};
    case GgufType::F32:
        return {in.scalar<float>(key)};
    case GgufType::Bool:
        return {readBool(in, fmt::format("key '{}'", key))};
    case GgufType::String:
        return {in.string(fmt::format("string of key '{}'", key))};
    case GgufType::Array:
        return {readArray(in, key)};
    case GgufType::U64:
        return {in.scalar<uint64_t>(key)};
    case GgufType::I64:
        return {in.scalar<int64_t>(key)};
    case GgufType::F64:
        return {in.scalar<double>(key)};
    }
    fail(ErrorCategory::Internal, "unhandled GGUF value type");
}

struct RawTensorInfo {
    TensorView view;
    uint64_t offset = 0; // relative to the data section
};

RawTensorInfo readTensorInfo(Cursor& in, uint64_t index) {
    RawTensorInfo info;
    TensorView& t = info.view;
    t.name = in.string(fmt::format("name of tensor #{}", index), kMaxTensorNameBytes);
    if (t.name.empty())
        fail(ErrorCategory::InvalidFile, "{}: tensor #{} has an empty name", in.file(), index);
    const std::string what = fmt::format("tensor '{}'", t.name);
    const auto nDims = in.scalar<uint32_t>(what);
    if (nDims < 1 || nDims > kMaxDims)
        fail(ErrorCategory::InvalidFile, "{}: {}: n_dims is {} (must be 1..{})", in.file(), what, nDims,
             kMaxDims);
    t.nDims = int(nDims);
    uint64_t elements = 1;
    for (uint32_t d = 0; d < nDims; ++d) {
        const auto dim = in.scalar<uint64_t>(what);
        if (dim < 1 || dim > uint64_t(std::numeric_limits<int64_t>::max()))
            fail(ErrorCategory::InvalidFile, "{}: {}: dimension {} is {} (must be >= 1)", in.file(), what, d,
                 dim);
        t.shape[d] = int64_t(dim);
        elements = checkedMul(elements, dim, fmt::format("{}: {}: element count", in.file(), what));
    }
    if (elements > uint64_t(std::numeric_limits<int64_t>::max()))
        fail(ErrorCategory::InvalidFile, "{}: {}: {} elements is too many", in.file(), what, elements);
    const auto typeId = in.scalar<uint32_t>(what);
    const auto dtype = dtypeInfoFor(typeId);
    if (!dtype)
        fail(ErrorCategory::Unsupported, "{}: {}: tensor type {} is not supported", in.file(), what, typeId);
    t.dtype = dtype->type;
    if (uint64_t(t.shape[0]) % dtype->blockSize != 0)
        fail(ErrorCategory::InvalidFile, "{}: {}: row length {} is not a multiple of the {} block size {}",
             in.file(), what, t.shape[0], dtype->name, dtype->blockSize);
    t.nbytes = checkedMul(elements / dtype->blockSize, dtype->blockBytes,
                          fmt::format("{}: {}: size", in.file(), what));
    info.offset = in.scalar<uint64_t>(what);
    return info;
}

} // namespace

GgufFile GgufFile::open(const std::filesystem::path& path) {
    GgufFile file;
    file.name_ = path.string();
    file.mapping_ = std::make_shared<MappedFile>(path);
    file.bytes_ = file.mapping_->bytes();
    file.parse();
    return file;
}

GgufFile GgufFile::fromBytes(std::span<const uint8_t> bytes, std::string name) {
    GgufFile file;
    file.name_ = std::move(name);
    file.bytes_ = bytes;
    file.parse();
    return file;
}

void GgufFile::parse() {
    Cursor in(bytes_, name_);
    if (bytes_.size() < 4 || std::memcmp(bytes_.data(), "GGUF", 4) != 0)
        fail(ErrorCategory::InvalidFile, "{}: not a GGUF file (the first 4 bytes are not 'GGUF')", name_);
    in.take(4, "magic");
    version_ = in.scalar<uint32_t>("version");
    if (version_ == 1)
        fail(ErrorCategory::Unsupported,
             "{}: GGUF version 1 is not supported (convert it with a newer llama.cpp)", name_);
    if (version_ != 2 && version_ != 3)
        fail(ErrorCategory::InvalidFile, "{}: GGUF version {} is unknown (expected 2 or 3)", name_, version_);
    const auto nTensors = in.scalar<uint64_t>("tensor count");
    const uint64_t nKv = in.count("metadata key/value count", kMinKvBytes);
    if (nTensors > in.left() / kMinTensorInfoBytes)
        fail(ErrorCategory::InvalidFile, "{}: tensor count is {} but only {} bytes remain", name_, nTensors,
             in.left());

    metadata_.reserve(nKv);
    for (uint64_t i = 0; i < nKv; ++i) {
        std::string key = in.string(fmt::format("key #{}", i));
        if (key.empty()) fail(ErrorCategory::InvalidFile, "{}: key #{} is empty", name_, i);
        if (metadataIndex_.count(key))
            fail(ErrorCategory::InvalidFile, "{}: key '{}' appears twice", name_, key);
        GgufValue value = readValue(in, key);
        metadataIndex_.emplace(key, metadata_.size());
        metadata_.emplace_back(std::move(key), std::move(value));
    }

    if (const GgufValue* align = find("general.alignment")) {
        const auto* a = std::get_if<uint32_t>(&align->value);
        if (!a)
            fail(ErrorCategory::InvalidFile, "{}: general.alignment is {} (must be u32)", name_,
                 align->typeName());
        if (*a == 0 || (*a & (*a - 1)) != 0 || *a > kGgufMaxAlignment)
            fail(ErrorCategory::InvalidFile, "{}: general.alignment is {} (must be a power of two up to {})",
                 name_, *a, kGgufMaxAlignment);
        alignment_ = *a;
    }

    std::vector<uint64_t> offsets;
    tensors_.reserve(nTensors);
    offsets.reserve(nTensors);
    for (uint64_t i = 0; i < nTensors; ++i) {
        RawTensorInfo info = readTensorInfo(in, i);
        if (tensorIndex_.count(info.view.name))
            fail(ErrorCategory::InvalidFile, "{}: tensor '{}' appears twice", name_, info.view.name);
        if (info.offset % alignment_ != 0)
            fail(ErrorCategory::InvalidFile,
                 "{}: tensor '{}': offset {} is not a multiple of the alignment {}", name_, info.view.name,
                 info.offset, alignment_);
        tensorIndex_.emplace(info.view.name, tensors_.size());
        tensors_.push_back(std::move(info.view));
        offsets.push_back(info.offset);
    }

    // The data section starts at the next multiple of the alignment (alignment <= 2^20, no overflow).
    const uint64_t headerEnd = in.position();
    dataOffset_ = (headerEnd + alignment_ - 1) / alignment_ * alignment_;
    if (tensors_.empty()) return;
    if (dataOffset_ > bytes_.size())
        fail(ErrorCategory::InvalidFile,
             "{}: the data section would start at {}, past the end of the file ({} bytes)", name_,
             dataOffset_, bytes_.size());
    const uint64_t dataBytes = bytes_.size() - dataOffset_;

    std::vector<size_t> order(tensors_.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return offsets[a] < offsets[b]; });
    uint64_t previousEnd = 0;
    const TensorView* previous = nullptr;
    for (size_t i : order) {
        TensorView& t = tensors_[i];
        const uint64_t offset = offsets[i];
        if (offset > dataBytes || t.nbytes > dataBytes - offset)
            fail(ErrorCategory::InvalidFile,
                 "{}: tensor '{}': offset {} + {} bytes is past the end of the file ({} bytes)", name_,
                 t.name, dataOffset_ + offset, t.nbytes, bytes_.size());
        if (previous && offset < previousEnd)
            fail(ErrorCategory::InvalidFile, "{}: tensor '{}' (offset {}) overlaps tensor '{}' (ends at {})",
                 name_, t.name, offset, previous->name, previousEnd);
        t.data = bytes_.data() + dataOffset_ + offset;
        previousEnd = offset + t.nbytes;
        previous = &t;
    }
}

const GgufValue* GgufFile::find(const std::string& key) const {
    const auto it = metadataIndex_.find(key);
    return it == metadataIndex_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorView* GgufFile::findTensor(const std::string& name) const {
    const auto it = tensorIndex_.find(name);
    return it == tensorIndex_.end() ? nullptr : &tensors_[it->second];
}

namespace {

[[noreturn]] void wrongType(const std::string& file, const std::string& key, const GgufValue& v,
                            const char* expected) {
    fail(ErrorCategory::InvalidFile, "{}: key '{}' is {} (expected {})", file, key, v.typeName(), expected);
}

template <typename T>
std::optional<T> integerAs(const std::string& file, const std::string& key, const GgufValue& v,
                           const char* expected) {
    if (const auto s = v.asInt64()) {
        if (*s < int64_t(std::numeric_limits<T>::min()) ||
            (*s > 0 && uint64_t(*s) > uint64_t(std::numeric_limits<T>::max())))
            fail(ErrorCategory::InvalidFile, "{}: key '{}' is {}, out of range for {}", file, key, *s,
                 expected);
        return T(*s);
    }
    if (const auto u = v.asUint64()) {
        if (*u > uint64_t(std::numeric_limits<T>::max()))
            fail(ErrorCategory::InvalidFile, "{}: key '{}' is {}, out of range for {}", file, key, *u,
                 expected);
        return T(*u);
    }
    wrongType(file, key, v, expected);
}

} // namespace

std::optional<uint32_t> GgufFile::getU32(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    return integerAs<uint32_t>(name_, key, *v, "u32");
}

std::optional<int32_t> GgufFile::getI32(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    return integerAs<int32_t>(name_, key, *v, "i32");
}

std::optional<uint64_t> GgufFile::getU64(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    return integerAs<uint64_t>(name_, key, *v, "u64");
}

std::optional<float> GgufFile::getF32(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (const auto* f = std::get_if<float>(&v->value)) return *f;
    if (const auto* d = std::get_if<double>(&v->value)) return float(*d);
    wrongType(name_, key, *v, "f32");
}

std::optional<bool> GgufFile::getBool(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (const auto* b = std::get_if<bool>(&v->value)) return *b;
    wrongType(name_, key, *v, "bool");
}

std::optional<std::string> GgufFile::getString(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (const auto* s = std::get_if<std::string>(&v->value)) return *s;
    wrongType(name_, key, *v, "string");
}

std::optional<std::vector<std::string>> GgufFile::getStringArray(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (const auto* a = std::get_if<GgufArray>(&v->value))
        if (const auto* s = std::get_if<std::vector<std::string>>(a)) return *s;
    wrongType(name_, key, *v, "array[string]");
}

std::optional<std::vector<float>> GgufFile::getF32Array(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (const auto* a = std::get_if<GgufArray>(&v->value)) {
        if (const auto* f = std::get_if<std::vector<float>>(a)) return *f;
        if (const auto* d = std::get_if<std::vector<double>>(a))
            return std::vector<float>(d->begin(), d->end());
    }
    wrongType(name_, key, *v, "array[f32]");
}

std::optional<std::vector<int32_t>> GgufFile::getI32Array(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    const auto* a = std::get_if<GgufArray>(&v->value);
    if (!a) wrongType(name_, key, *v, "array[i32]");
    if (const auto* i = std::get_if<std::vector<int32_t>>(a)) return *i;
    return std::visit(
        [&](const auto& elements) -> std::vector<int32_t> {
            using T = typename std::decay_t<decltype(elements)>::value_type;
            if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
                std::vector<int32_t> out;
                out.reserve(elements.size());
                for (const T e : elements) {
                    if (std::cmp_less(e, std::numeric_limits<int32_t>::min()) ||
                        std::cmp_greater(e, std::numeric_limits<int32_t>::max()))
                        fail(ErrorCategory::InvalidFile, "{}: key '{}' holds {}, out of range for i32", name_,
                             key, e);
                    out.push_back(int32_t(e));
                }
                return out;
            }
            wrongType(name_, key, *v, "array[i32]");
        },
        *a);
}

} // namespace lathe
