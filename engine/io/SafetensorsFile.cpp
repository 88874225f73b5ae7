#include "io/SafetensorsFile.h"

#include "core/CheckedMath.h"
#include "core/Error.h"
#include "core/TextFile.h"
#include "io/MappedFile.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

namespace lathe {
namespace {

struct Entry {
    TensorView view;
    uint64_t begin = 0;
    uint64_t end = 0;
};

DType dtypeFromSafetensors(const std::string& file, const std::string& tensor, const std::string& name) {
    if (name == "F32") return DType::F32;
    if (name == "F16") return DType::F16;
    if (name == "BF16") return DType::BF16;
    fail(ErrorCategory::Unsupported, "{}: tensor '{}' has dtype {} (Lathe reads F32, F16 and BF16)", file,
         tensor, name);
}

Entry parseEntry(const std::string& file, const std::string& name, const nlohmann::json& info) {
    if (!info.is_object())
        fail(ErrorCategory::InvalidFile, "{}: tensor '{}' is not a JSON object", file, name);
    const auto dtypeIt = info.find("dtype");
    const auto shapeIt = info.find("shape");
    const auto offsetsIt = info.find("data_offsets");
    if (dtypeIt == info.end() || !dtypeIt->is_string())
        fail(ErrorCategory::InvalidFile, "{}: tensor '{}' has no string 'dtype'", file, name);
    if (shapeIt == info.end() || !shapeIt->is_array())
        fail(ErrorCategory::InvalidFile, "{}: tensor '{}' has no array 'shape'", file, name);
    if (offsetsIt == info.end() || !offsetsIt->is_array() || offsetsIt->size() != 2 ||
        !(*offsetsIt)[0].is_number_unsigned() || !(*offsetsIt)[1].is_number_unsigned())
        fail(ErrorCategory::InvalidFile,
             "{}: tensor '{}' needs 'data_offsets' [begin, end] of unsigned integers", file, name);

    Entry e;
    TensorView& t = e.view;
    t.name = name;
    t.dtype = dtypeFromSafetensors(file, name, dtypeIt->get<std::string>());
    const auto& shape = *shapeIt;
    if (shape.size() > 4)
        fail(ErrorCategory::Unsupported, "{}: tensor '{}' has {} dimensions (at most 4)", file, name,
             shape.size());
    t.nDims = std::max<int>(1, int(shape.size()));
    uint64_t elements = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
        const auto& dim = shape[i];
        if (!dim.is_number_unsigned() || dim.get<uint64_t>() < 1 ||
            dim.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
            fail(ErrorCategory::InvalidFile,
                 "{}: tensor '{}': dimension {} is {} (must be a positive integer)", file, name, i,
                 dim.dump());
        t.shape[shape.size() - 1 - i] = int64_t(dim.get<uint64_t>()); // ggml order: innermost first
        elements = checkedMul(elements, dim.get<uint64_t>(), fmt::format("{}: tensor '{}'", file, name));
    }
    t.nbytes =
        checkedMul(elements, dtypeInfo(t.dtype).blockBytes, fmt::format("{}: tensor '{}'", file, name));
    e.begin = (*offsetsIt)[0].get<uint64_t>();
    e.end = (*offsetsIt)[1].get<uint64_t>();
    if (e.end < e.begin || e.end - e.begin != t.nbytes)
        fail(ErrorCategory::InvalidFile,
             "{}: tensor '{}': data_offsets [{}, {}] hold {} bytes, but {} {} needs {}", file, name, e.begin,
             e.end, e.end >= e.begin ? e.end - e.begin : 0, dtypeIt->get<std::string>(), shape.dump(),
             t.nbytes);
    return e;
}

} // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
    SafetensorsFile file;
    file.name_ = path.string();
    file.mapping_ = std::make_shared<MappedFile>(path);
    file.bytes_ = file.mapping_->bytes();
    file.parse();
    return file;
}

SafetensorsFile SafetensorsFile::fromBytes(std::span<const uint8_t> bytes, std::string name) {
    SafetensorsFile file;
    file.name_ = std::move(name);
    file.bytes_ = bytes;
    file.parse();
    return file;
}

void SafetensorsFile::parse() {
    if (bytes_.size() < 8)
        fail(ErrorCategory::InvalidFile, "{}: too short for a safetensors file ({} bytes)", name_,
             bytes_.size());
    uint64_t headerBytes;
    std::memcpy(&headerBytes, bytes_.data(), 8);
    if (headerBytes > kSafetensorsMaxHeaderBytes)
        fail(ErrorCategory::InvalidFile, "{}: header length {} exceeds the {} byte limit", name_, headerBytes,
             kSafetensorsMaxHeaderBytes);
    if (headerBytes > bytes_.size() - 8)
        fail(ErrorCategory::InvalidFile, "{}: header length {} is past the end of the file ({} bytes)", name_,
             headerBytes, bytes_.size());
    const auto* headerStart = reinterpret_cast<const char*>(bytes_.data() + 8);
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(headerStart, headerStart + headerBytes);
    } catch (const nlohmann::json::exception& e) {
        fail(ErrorCategory::InvalidFile, "{}: the JSON header is malformed: {}", name_, e.what());
    }
    if (!header.is_object()) fail(ErrorCategory::InvalidFile, "{}: the JSON header is not an object", name_);

    std::vector<Entry> entries;
    entries.reserve(header.size());
    for (const auto& [name, info] : header.items()) {
        if (name == "__metadata__") continue;
        entries.push_back(parseEntry(name_, name, info));
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });

    const uint64_t dataStart = 8 + headerBytes;
    const uint64_t dataBytes = bytes_.size() - dataStart;
    uint64_t expected = 0;
    for (Entry& e : entries) {
        if (e.begin != expected)
            fail(ErrorCategory::InvalidFile,
                 "{}: tensor '{}' starts at {} but the previous tensor ends at {} "
                 "(tensors must be contiguous and must not overlap)",
                 name_, e.view.name, e.begin, expected);
        if (e.end > dataBytes)
            fail(ErrorCategory::InvalidFile,
                 "{}: tensor '{}': data ends at {}, past the end of the data ({} bytes)", name_, e.view.name,
                 e.end, dataBytes);
        e.view.data = bytes_.data() + dataStart + e.begin;
        expected = e.end;
    }
    if (expected != dataBytes)
        fail(ErrorCategory::InvalidFile, "{}: tensors cover {} bytes but the data section holds {}", name_,
             expected, dataBytes);
    tensors_.reserve(entries.size());
    for (Entry& e : entries) {
        index_.emplace(e.view.name, tensors_.size());
        tensors_.push_back(std::move(e.view));
    }
}

const TensorView* SafetensorsFile::findTensor(const std::string& name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::map<std::string, std::string> parseSafetensorsIndex(const std::string& jsonText,
                                                         const std::string& name) {
    nlohmann::json index;
    try {
        index = nlohmann::json::parse(jsonText);
    } catch (const nlohmann::json::exception& e) {
        fail(ErrorCategory::InvalidFile, "{}: malformed JSON: {}", name, e.what());
    }
    const auto it = index.is_object() ? index.find("weight_map") : index.end();
    if (it == index.end() || !it->is_object())
        fail(ErrorCategory::InvalidFile, "{}: no 'weight_map' object", name);
    std::map<std::string, std::string> map;
    for (const auto& [tensor, shard] : it->items()) {
        if (!shard.is_string())
            fail(ErrorCategory::InvalidFile, "{}: weight_map entry '{}' is not a string", name, tensor);
        const std::string file = shard.get<std::string>();
        if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos ||
            file.find('\\') != std::string::npos)
            fail(ErrorCategory::InvalidFile, "{}: weight_map entry '{}' names '{}', not a file in the folder",
                 name, tensor, file);
        map.emplace(tensor, file);
    }
    return map;
}

std::map<std::string, std::string> readSafetensorsIndex(const std::filesystem::path& path) {
    return parseSafetensorsIndex(readTextFile(path, "safetensors index"), path.string());
}

} // namespace lathe
