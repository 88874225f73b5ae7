#include "compress/EditableModel.h"

#include "compress/RtnQuantizer.h"
#include "core/Error.h"
#include "io/GgufWriter.h"
#include "io/Quants.h"

#include <algorithm>
#include <cstring>

namespace lathe {

std::string_view blockMatrixName(BlockMatrix which) {
    switch (which) {
    case BlockMatrix::AttnQ:
        return "attn_q";
    case BlockMatrix::AttnK:
        return "attn_k";
    case BlockMatrix::AttnV:
        return "attn_v";
    case BlockMatrix::AttnOutput:
        return "attn_output";
    case BlockMatrix::FfnGate:
        return "ffn_gate";
    case BlockMatrix::FfnUp:
        return "ffn_up";
    case BlockMatrix::FfnDown:
        return "ffn_down";
    }
    return "?";
}

FloatMatrix decodeMatrix(DType format, const uint8_t* data, uint64_t rowStride, int64_t rows, int64_t cols) {
    FloatMatrix m{rows, cols, std::vector<float>(size_t(rows * cols))};
    for (int64_t r = 0; r < rows; ++r)
        dequantizeRow(format, data + uint64_t(r) * rowStride, m.values.data() + r * cols, cols);
    return m;
}

EditableModel::EditableModel(const std::filesystem::path& path)
    : path_(path), gguf_(GgufFile::open(path)), source_(std::make_unique<ModelFiles>(openModelFiles(path))),
      config_(source_->config) {
    if (source_->format != ModelFormat::Gguf)
        fail(ErrorCategory::Unsupported, "{}: compression reads GGUF files", path.string());
    ffWidths_.resize(size_t(config_.nLayers));
    headCounts_.assign(size_t(config_.nLayers), {config_.nHeads, config_.nHeadsKv});
    for (int l = 0; l < config_.nLayers; ++l)
        ffWidths_[size_t(l)] = int(source_->tensor(tensorName(l, BlockMatrix::FfnGate)).rowCount());
}

EditableModel::~EditableModel() = default;

std::string EditableModel::tensorName(int layer, BlockMatrix which) const {
    if (layer < 0 || layer >= config_.nLayers)
        fail(ErrorCategory::Internal, "EditableModel: layer {} of {}", layer, config_.nLayers);
    return "blk." + std::to_string(layer) + "." + std::string(blockMatrixName(which)) + ".weight";
}

std::string EditableModel::normName(int layer, bool ffn) const {
    return "blk." + std::to_string(layer) + (ffn ? ".ffn_norm.weight" : ".attn_norm.weight");
}

const EditableModel::Edit* EditableModel::findEdit(const std::string& name) const {
    const auto it = matrices_.find(name);
    return it == matrices_.end() ? nullptr : &it->second;
}

FloatMatrix& EditableModel::matrix(int layer, BlockMatrix which) {
    const std::string name = tensorName(layer, which);
    Edit& edit = matrices_[name];
    if (edit.encoded && edit.slice) {
        // A slice of the stored bytes becomes floats when a step wants to change it.
        const Encoded& e = *edit.encoded;
        edit.values =
            decodeMatrix(e.format, e.bytes.data(), rowBytes(e.format, uint64_t(e.cols)), e.rows, e.cols);
        edit.encoded.reset();
        edit.slice = false;
    }
    if (edit.encoded)
        fail(ErrorCategory::InvalidArgument, "{} is already quantized: quantization must be the last step",
             name);
    if (!edit.values) edit.values = decodeMatrix(source_->tensor(name));
    return *edit.values;
}

std::vector<float>& EditableModel::norm(int layer, bool ffn) {
    const std::string name = normName(layer, ffn);
    std::vector<float>* values = vector(name);
    if (!values) fail(ErrorCategory::InvalidFile, "{}: tensor {} is missing", path_.string(), name);
    return *values;
}

std::vector<float>* EditableModel::vector(const std::string& tensorName) {
    auto it = vectors_.find(tensorName);
    if (it == vectors_.end()) {
        const TensorView* t = source_->findTensor(tensorName);
        if (!t) return nullptr;
        std::vector<float> values(size_t(t->elementCount()));
        dequantizeRow(t->dtype, t->data, values.data(), t->elementCount());
        it = vectors_.emplace(tensorName, std::move(values)).first;
    }
    return &it->second;
}

int EditableModel::ffWidth(int layer) const {
    return ffWidths_.at(size_t(layer));
}

void EditableModel::setFfn(int layer, FloatMatrix gate, FloatMatrix up, FloatMatrix down) {
    const int64_t ff = gate.rows;
    if (up.rows != ff || down.cols != ff || gate.cols != config_.nEmbd || up.cols != config_.nEmbd ||
        down.rows != config_.nEmbd || ff <= 0)
        fail(ErrorCategory::Internal, "setFfn: inconsistent shapes for layer {}", layer);
    for (BlockMatrix which : {BlockMatrix::FfnGate, BlockMatrix::FfnUp, BlockMatrix::FfnDown})
        if (isQuantized(layer, which))
            fail(ErrorCategory::InvalidArgument, "layer {}: the FFN is already quantized", layer);
    replaceValues(tensorName(layer, BlockMatrix::FfnGate), std::move(gate));
    replaceValues(tensorName(layer, BlockMatrix::FfnUp), std::move(up));
    replaceValues(tensorName(layer, BlockMatrix::FfnDown), std::move(down));
    ffWidths_[size_t(layer)] = int(ff);
}

void EditableModel::setAttention(int layer, int nHeads, int nHeadsKv, FloatMatrix q, FloatMatrix k,
                                 FloatMatrix v, FloatMatrix o, std::vector<float> bq, std::vector<float> bk,
                                 std::vector<float> bv) {
    const int64_t d = config_.headDim, e = config_.nEmbd;
    if (nHeads <= 0 || nHeadsKv <= 0 || nHeads % nHeadsKv != 0 || q.rows != nHeads * d ||
        k.rows != nHeadsKv * d || v.rows != nHeadsKv * d || q.cols != e || k.cols != e || v.cols != e ||
        o.rows != e || o.cols != q.rows || (!bq.empty() && int64_t(bq.size()) != q.rows) ||
        (!bk.empty() && int64_t(bk.size()) != k.rows) || (!bv.empty() && int64_t(bv.size()) != v.rows))
        fail(ErrorCategory::Internal, "setAttention: inconsistent shapes for layer {}", layer);
    for (BlockMatrix which :
         {BlockMatrix::AttnQ, BlockMatrix::AttnK, BlockMatrix::AttnV, BlockMatrix::AttnOutput})
        if (isQuantized(layer, which))
            fail(ErrorCategory::InvalidArgument, "layer {}: the attention is already quantized", layer);
    const std::string prefix = "blk." + std::to_string(layer) + ".";
    const std::pair<std::vector<float>&, const char*> biases[] = {
        {bq, "attn_q.bias"}, {bk, "attn_k.bias"}, {bv, "attn_v.bias"}};
    for (auto& [values, name] : biases) {
        const bool stored = source_->findTensor(prefix + name) != nullptr;
        if (stored != !values.empty())
            fail(ErrorCategory::Internal, "setAttention: layer {} {} {}", layer, name,
                 stored ? "is missing" : "does not exist in the model");
        if (stored) vectors_[prefix + name] = std::move(values);
    }
    replaceValues(tensorName(layer, BlockMatrix::AttnQ), std::move(q));
    replaceValues(tensorName(layer, BlockMatrix::AttnK), std::move(k));
    replaceValues(tensorName(layer, BlockMatrix::AttnV), std::move(v));
    replaceValues(tensorName(layer, BlockMatrix::AttnOutput), std::move(o));
    setHeadCounts(layer, nHeads, nHeadsKv);
}

void EditableModel::setHeadCounts(int layer, int nHeads, int nHeadsKv) {
    if (nHeads <= 0 || nHeadsKv <= 0 || nHeads % nHeadsKv != 0)
        fail(ErrorCategory::Internal, "setHeadCounts: {} heads, {} KV heads in layer {}", nHeads, nHeadsKv,
             layer);
    headCounts_.at(size_t(layer)) = {nHeads, nHeadsKv};
    if (std::all_of(headCounts_.begin(), headCounts_.end(),
                    [&](const auto& c) { return c == headCounts_[0]; })) {
        config_.nHeads = nHeads;
        config_.nHeadsKv = nHeadsKv;
    }
}

void EditableModel::replaceValues(const std::string& name, FloatMatrix values) {
    Edit& edit = matrices_[name];
    edit.values = std::move(values);
    edit.encoded.reset();
    edit.slice = false;
}

void EditableModel::compact(int layer, DType storage) {
    const int64_t block = dtypeInfo(storage).blockSize;
    for (BlockMatrix which : kBlockMatrices) {
        const auto it = matrices_.find(tensorName(layer, which));
        if (it == matrices_.end() || !it->second.values) continue;
        const FloatMatrix& m = *it->second.values;
        if (m.cols % block != 0) continue;
        Encoded e{storage, m.rows, m.cols, {}};
        const uint64_t stride = rowBytes(storage, uint64_t(m.cols));
        e.bytes.resize(size_t(stride * uint64_t(m.rows)));
        for (int64_t r = 0; r < m.rows; ++r)
            quantizeRow(storage, m.values.data() + r * m.cols, e.bytes.data() + size_t(r) * stride, m.cols);
        it->second.values.reset();
        it->second.encoded = std::move(e);
        it->second.slice = true;
    }
}

const TensorView* EditableModel::untouched(int layer, BlockMatrix which) const {
    const std::string name = tensorName(layer, which);
    return findEdit(name) ? nullptr : &source_->tensor(name);
}

void EditableModel::keepStored(int layer, BlockMatrix which, const Ranges& rowRanges,
                               const Ranges& columnRanges) {
    const TensorView* t = untouched(layer, which);
    if (!t) fail(ErrorCategory::Internal, "keepStored: {} was changed before", tensorName(layer, which));
    const int64_t block = dtypeInfo(t->dtype).blockSize;
    const uint64_t blockBytes = rowBytes(t->dtype, uint64_t(block));
    auto count = [](const Ranges& ranges, int64_t limit, int64_t granularity) {
        int64_t n = 0, last = 0;
        for (const auto& [begin, end] : ranges) {
            if (begin < last || end <= begin || end > limit || begin % granularity != 0 ||
                end % granularity != 0)
                fail(ErrorCategory::Internal, "keepStored: range [{}, {}) of {} (granularity {})", begin, end,
                     limit, granularity);
            n += end - begin;
            last = end;
        }
        return n;
    };
    Encoded e;
    e.format = t->dtype;
    e.rows = count(rowRanges, t->rowCount(), 1);
    e.cols = count(columnRanges, t->rowLength(), block);
    const uint64_t stride = rowBytes(e.format, uint64_t(e.cols));
    e.bytes.resize(size_t(stride * uint64_t(e.rows)));
    uint8_t* out = e.bytes.data();
    for (const auto& [r0, r1] : rowRanges)
        for (int64_t r = r0; r < r1; ++r)
            for (const auto& [c0, c1] : columnRanges) {
                const uint64_t bytes = uint64_t((c1 - c0) / block) * blockBytes;
                std::memcpy(out, t->row(r) + uint64_t(c0 / block) * blockBytes, bytes);
                out += bytes;
            }
    Edit& edit = matrices_[tensorName(layer, which)];
    edit.values.reset();
    edit.encoded = std::move(e);
    edit.slice = true;
}

bool EditableModel::headsChanged() const {
    return headCounts_[0] != std::pair(source_->config.nHeads, source_->config.nHeadsKv);
}

void EditableModel::requireUniformHeads(const char* what) const {
    for (size_t l = 1; l < headCounts_.size(); ++l)
        if (headCounts_[l] != headCounts_[0])
            fail(
                ErrorCategory::Internal,
                "{}: layer {} has {} heads ({} KV) but layer 0 has {} ({}); GGUF llama models have one count",
                what, l, headCounts_[l].first, headCounts_[l].second, headCounts_[0].first,
                headCounts_[0].second);
}

void EditableModel::setQuantized(int layer, BlockMatrix which, QuantizedMatrix quantized) {
    const FloatMatrix& m = matrix(layer, which);
    if (m.rows != quantized.rows || m.cols != quantized.cols)
        fail(ErrorCategory::Internal, "setQuantized: shape of {}", tensorName(layer, which));
    Edit& edit = matrices_[tensorName(layer, which)];
    edit.encoded =
        Encoded{storageFormatFor(quantized.spec, m.cols), m.rows, m.cols, encodeQuantized(quantized)};
    edit.values.reset();
}

bool EditableModel::isQuantized(int layer, BlockMatrix which) const {
    const Edit* e = findEdit(tensorName(layer, which));
    return e && e->encoded && !e->slice;
}

void EditableModel::setMetadata(const std::string& key, GgufValue value) {
    for (auto& [k, v] : extraMetadata_)
        if (k == key) {
            v = std::move(value);
            return;
        }
    extraMetadata_.emplace_back(key, std::move(value));
}

const GgufValue* EditableModel::metadata(const std::string& key) const {
    for (const auto& [k, v] : extraMetadata_)
        if (k == key) return &v;
    return gguf_.find(key);
}

ModelFiles EditableModel::currentFiles() {
    requireUniformHeads("EditableModel::currentFiles");
    ModelFiles files;
    files.format = source_->format;
    files.path = source_->path;
    files.totalBytes = source_->totalBytes;
    files.config = config_;
    files.config.nFf = *std::max_element(ffWidths_.begin(), ffWidths_.end());
    if (std::any_of(ffWidths_.begin(), ffWidths_.end(), [&](int w) { return w != files.config.nFf; }))
        files.config.layerFf = ffWidths_;
    files.tokenizer = source_->tokenizer;
    files.tensors = source_->tensors;
    files.mappings = source_->mappings;
    auto floatView = [](const std::string& name, int64_t rows, int64_t cols, const float* data) {
        TensorView v;
        v.name = name;
        v.dtype = DType::F32;
        v.nDims = rows > 1 ? 2 : 1;
        v.shape = {cols, rows, 1, 1};
        v.data = reinterpret_cast<const uint8_t*>(data);
        v.nbytes = uint64_t(rows * cols) * sizeof(float);
        return v;
    };
    for (const auto& [name, edit] : matrices_) {
        if (edit.values)
            files.tensors[name] =
                floatView(name, edit.values->rows, edit.values->cols, edit.values->values.data());
        if (edit.encoded) {
            TensorView v = floatView(name, edit.encoded->rows, edit.encoded->cols, nullptr);
            v.dtype = edit.encoded->format;
            v.data = edit.encoded->bytes.data();
            v.nbytes = edit.encoded->bytes.size();
            files.tensors[name] = v;
        }
    }
    for (const auto& [name, values] : vectors_)
        files.tensors[name] = floatView(name, 1, int64_t(values.size()), values.data());
    return files;
}

WriteCounts EditableModel::write(const std::filesystem::path& output, DType storage,
                                 const ProgressFn& progress, const CancelToken& cancel) const {
    if (!canQuantize(storage) || dtypeInfo(storage).blockSize > 32)
        fail(ErrorCategory::InvalidArgument, "storage format {} cannot hold changed weights",
             dtypeName(storage));
    requireUniformHeads("EditableModel::write");
    GgufWriter writer;
    for (const auto& [key, value] : gguf_.metadata())
        writer.set(key, value);
    if (headsChanged()) {
        // The head size no longer follows from embedding / head_count, so it is written out.
        const std::string a = config_.architecture + ".attention.";
        writer.setU32(a + "head_count", uint32_t(config_.nHeads));
        writer.setU32(a + "head_count_kv", uint32_t(config_.nHeadsKv));
        writer.setU32(a + "key_length", uint32_t(config_.headDim));
        writer.setU32(a + "value_length", uint32_t(config_.headDim));
    }
    const std::string ffKey = config_.architecture + ".feed_forward_length";
    if (std::any_of(ffWidths_.begin(), ffWidths_.end(), [&](int w) { return w != ffWidths_[0]; }))
        writer.set(ffKey, {GgufArray(std::vector<int32_t>(ffWidths_.begin(), ffWidths_.end()))});
    else
        writer.setU32(ffKey, uint32_t(ffWidths_[0]));
    for (const auto& [key, value] : extraMetadata_)
        writer.set(key, value);

    // general.file_type names the format most block weights are stored in, where llama.cpp has a name
    // for it (llama.cpp only prints it).
    std::map<DType, int64_t> weightsByFormat;
    WriteCounts counts;
    std::vector<float> row;
    const std::vector<TensorView>& tensors = gguf_.tensors();
    for (size_t i = 0; i < tensors.size(); ++i) {
        cancel.throwIfCancelled();
        const TensorView& t = tensors[i];
        const bool blockMatrix = t.name.rfind("blk.", 0) == 0 && t.nDims == 2;
        if (const Edit* edit = findEdit(t.name); edit && (edit->values || edit->encoded)) {
            const int64_t rows = edit->encoded ? edit->encoded->rows : edit->values->rows;
            const int64_t cols = edit->encoded ? edit->encoded->cols : edit->values->cols;
            DType format = storage;
            std::vector<uint8_t> encodedHere;
            std::span<const uint8_t> bytes;
            if (edit->encoded) {
                format = edit->encoded->format;
                bytes = edit->encoded->bytes;
            } else {
                const FloatMatrix& m = *edit->values;
                if (m.cols % dtypeInfo(storage).blockSize != 0)
                    fail(ErrorCategory::InvalidArgument, "{}: rows of {} do not fit {} blocks", t.name,
                         m.cols, dtypeName(storage));
                const uint64_t stride = rowBytes(storage, uint64_t(m.cols));
                encodedHere.resize(size_t(stride * uint64_t(m.rows)));
                for (int64_t r = 0; r < m.rows; ++r)
                    quantizeRow(storage, m.values.data() + r * m.cols,
                                encodedHere.data() + size_t(r) * stride, m.cols);
                bytes = encodedHere;
            }
            if (edit->encoded)
                writer.addTensorView(t.name, format, {cols, rows}, bytes); // kept alive by this model
            else
                writer.addTensor(t.name, format, {cols, rows}, bytes);
            ++counts.changedTensors;
            weightsByFormat[format] += rows * cols;
            // Zeros as stored: decode what was written.
            const uint64_t stride = rowBytes(format, uint64_t(cols));
            row.resize(size_t(cols));
            for (int64_t r = 0; r < rows; ++r) {
                dequantizeRow(format, bytes.data() + size_t(r) * stride, row.data(), cols);
                counts.zeroBlockWeights += std::count(row.begin(), row.end(), 0.0f);
            }
            counts.blockWeights += rows * cols;
        } else if (auto n = vectors_.find(t.name); n != vectors_.end()) {
            const auto* bytes = reinterpret_cast<const uint8_t*>(n->second.data());
            writer.addTensor(t.name, DType::F32, {int64_t(n->second.size())},
                             std::span(bytes, n->second.size() * sizeof(float)));
            ++counts.changedTensors;
        } else {
            std::vector<int64_t> shape(t.shape.begin(), t.shape.begin() + std::max(t.nDims, 1));
            writer.addTensorView(t.name, t.dtype, shape, std::span(t.data, size_t(t.nbytes)));
            ++counts.keptTensors;
            if (blockMatrix) {
                weightsByFormat[t.dtype] += t.elementCount();
                row.resize(size_t(t.rowLength()));
                for (int64_t r = 0; r < t.rowCount(); ++r) {
                    dequantizeRow(t.dtype, t.row(r), row.data(), t.rowLength());
                    counts.zeroBlockWeights += std::count(row.begin(), row.end(), 0.0f);
                }
                counts.blockWeights += t.elementCount();
            }
        }
        reportProgress(progress, 0.95 * double(i + 1) / double(tensors.size()), t.name);
    }
    if (!weightsByFormat.empty()) {
        const DType dominant =
            std::max_element(weightsByFormat.begin(), weightsByFormat.end(),
                             [](const auto& a, const auto& b) { return a.second < b.second; })
                ->first;
        if (dominant == DType::F16 || dominant == DType::Q4_0 || dominant == DType::Q4_1 ||
            dominant == DType::Q8_0)
            writer.setU32("general.file_type", llamaFileType(dominant));
    }
    cancel.throwIfCancelled();
    writer.writeFile(output);
    reportProgress(progress, 1.0, "written");
    return counts;
}

} // namespace lathe
